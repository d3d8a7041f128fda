"""The relay configuration from components/relay.py, run for real with Debian's Postfix on loopback.

Each relay listens on its own 127.x address, binds outgoing connections to it and says HELO with its
own name, exactly as a production relay binds its floating IP and says its PTR name. An aiosmtpd sink
on 127.0.0.1 stands in for the recipients' MX and records who connected and what HELO it heard.
"""

from __future__ import annotations

import smtplib
import threading
import time
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from components.relay import RelayConfig, render_files
from tests.support.mta import PostfixInstance, free_port, make_traversable, require_postfix


class _Sink:
    """Records every delivered message with the peer address and HELO name it came with."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook name)
        self.received.append({"peer": session.peer[0], "helo": session.host_name,
                              "rcpt": list(envelope.rcpt_tos), "data": envelope.content})
        self.arrived.set()
        return "250 OK sink"


@pytest.fixture
def sink():
    handler = _Sink()
    port = free_port("127.0.0.1")
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="sink.test")
    controller.start()
    handler.port = port
    yield handler
    controller.stop()


@pytest.fixture
def relays(tmp_path):
    require_postfix()
    # The postfix user must traverse every ancestor of the queue and data directories.
    make_traversable(tmp_path)
    started: list[PostfixInstance] = []

    def make(name: str, address: str, helo: str, sink_port: int) -> PostfixInstance:
        base = tmp_path / name
        cfg = RelayConfig(name=name, listen_address=address, port=free_port(address), bind_address=address,
                          helo_name=helo, mynetworks="127.0.0.0/8", config_directory=str(base / "etc"),
                          queue_directory=str(base / "queue"), data_directory=str(base / "data"),
                          maillog_file=str(base / "maillog"), relayhost=f"[127.0.0.1]:{sink_port}", dns=False)
        relay = PostfixInstance(base, cfg)
        relay.start()
        started.append(relay)
        return relay

    yield make
    for r in started:
        r.stop()


def _send(relay: PostfixInstance, rcpt: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "anna@sender.test", rcpt, f"via {relay.cfg.name}"
    msg.set_content("hello")
    with smtplib.SMTP(relay.cfg.listen_address, relay.cfg.port, local_hostname="mailcow.test", timeout=10) as s:
        s.send_message(msg)


def _wait_for(sink: _Sink, count: int, relay: PostfixInstance) -> None:
    deadline = time.monotonic() + 15
    while len(sink.received) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sink.received) >= count, f"mail never reached the sink; relay log:\n{relay.log()}"


def test_mail_through_relay_leaves_from_its_bind_address_with_its_helo_name(relays, sink):
    relay = relays("relay2", "127.0.0.2", "relay2.test", sink.port)
    _send(relay, "bob@dest.test")
    _wait_for(sink, 1, relay)
    got = sink.received[0]
    assert got["peer"] == "127.0.0.2"
    assert got["helo"] == "relay2.test"
    assert got["rcpt"] == ["bob@dest.test"]
    assert b"Subject: via relay2" in got["data"]


def test_two_relays_each_send_from_their_own_address_and_helo(relays, sink):
    first = relays("relay2", "127.0.0.2", "relay2.test", sink.port)
    second = relays("relay3", "127.0.0.3", "relay3.test", sink.port)
    _send(first, "bob@dest.test")
    _wait_for(sink, 1, first)
    _send(second, "carol@dest.test")
    _wait_for(sink, 2, second)
    by_rcpt = {tuple(m["rcpt"]): (m["peer"], m["helo"]) for m in sink.received}
    assert by_rcpt == {("bob@dest.test",): ("127.0.0.2", "relay2.test"),
                       ("carol@dest.test",): ("127.0.0.3", "relay3.test")}


def test_relay_refuses_clients_outside_mynetworks(relays, sink, tmp_path):
    # mynetworks of production relays is Mailcow's bridge only: nobody else may relay through them.
    relay_cfg = RelayConfig(name="relay4", listen_address="127.0.0.4", port=free_port("127.0.0.4"),
                            bind_address="127.0.0.4", helo_name="relay4.test", mynetworks="127.0.0.9/32",
                            config_directory=str(tmp_path / "relay4" / "etc"),
                            queue_directory=str(tmp_path / "relay4" / "queue"),
                            data_directory=str(tmp_path / "relay4" / "data"),
                            maillog_file=str(tmp_path / "relay4" / "maillog"),
                            relayhost=f"[127.0.0.1]:{sink.port}", dns=False)
    relays("relay2", "127.0.0.2", "relay2.test", sink.port)  # makes the tmp tree traversable
    relay = PostfixInstance(tmp_path / "relay4", relay_cfg)
    relay.start()
    try:
        # Refused from the greeting on (554), so connect without SMTP()'s check for a 220.
        with smtplib.SMTP(local_hostname="stranger.test", timeout=10) as s:
            s.connect("127.0.0.4", relay_cfg.port)
            s.ehlo()
            s.mail("x@stranger.test")
            code, _ = s.rcpt("bob@dest.test")
        assert code == 554 or 500 <= code < 600
        assert sink.received == []
    finally:
        relay.stop()


# --- Only Mailcow's Postfix may use a relay --------------------------------------------------------

MAILCOW = "127.0.0.5"
"""Stands in for postfix-mailcow (172.22.1.253 in production): the one address in mynetworks."""


@pytest.fixture
def guarded_relay(relays, sink, tmp_path):
    """A relay rendered like production (mynetworks = one /32) that listens on 127.0.0.4 and on ::1."""
    relays("relay2", "127.0.0.2", "relay2.test", sink.port)  # makes the tmp tree traversable
    base = tmp_path / "relay4"
    cfg = RelayConfig(name="relay4", listen_address="127.0.0.4", port=free_port("127.0.0.4", "::1"),
                      bind_address="127.0.0.4", helo_name="relay4.test", mynetworks=f"{MAILCOW}/32",
                      extra_listen_addresses=("[::1]",), inet_protocols="all",
                      config_directory=str(base / "etc"), queue_directory=str(base / "queue"),
                      data_directory=str(base / "data"), maillog_file=str(base / "maillog"),
                      relayhost=f"[127.0.0.1]:{sink.port}", dns=False)
    relay = PostfixInstance(base, cfg)
    relay.start()
    yield relay
    relay.stop()


def test_production_relays_serve_only_mailcows_postfix_and_refuse_everyone_at_connect():
    main = render_files(RelayConfig.for_server(1, "198.51.100.10", "mx1-ip1.example.test"))["main.cf"]
    lines = main.splitlines()
    assert "mynetworks = 172.22.1.253/32" in lines
    assert "smtpd_client_restrictions = permit_mynetworks, reject" in lines
    assert "smtpd_delay_reject = no" in lines
    assert "inet_protocols = ipv4" in lines


@pytest.mark.parametrize("outsider", ["127.0.0.1", "::1"])
def test_outsider_is_refused_at_ehlo_and_even_for_postmaster(guarded_relay, sink, outsider):
    host = "::1" if ":" in outsider else guarded_relay.cfg.listen_address
    smtp = smtplib.SMTP(timeout=10, source_address=(outsider, 0))
    try:
        code, _ = smtp.connect(host, guarded_relay.cfg.port)
        assert code == 554
        ehlo_code, ehlo_text = smtp.ehlo("stranger.test")
        assert ehlo_code == 503 and b"access denied" in ehlo_text
        assert smtp.docmd("MAIL FROM:<x@stranger.test>")[0] == 503
        # Postfix's built-in exception: without smtpd_delay_reject = no this answers 250.
        assert smtp.docmd("RCPT TO:<postmaster>")[0] == 503
    finally:
        smtp.close()
    rejected = f"reject: CONNECT from unknown[{outsider}]"
    deadline = time.monotonic() + 10  # postlogd writes the maillog asynchronously
    while rejected not in guarded_relay.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rejected in guarded_relay.log()
    assert sink.received == []


def test_mail_from_mailcows_postfix_still_leaves_from_the_bind_address_with_the_helo_name(guarded_relay, sink):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "anna@sender.test", "bob@dest.test", "from mailcow"
    msg.set_content("hello")
    with smtplib.SMTP(guarded_relay.cfg.listen_address, guarded_relay.cfg.port, local_hostname="mailcow.test",
                      timeout=10, source_address=(MAILCOW, 0)) as smtp:
        smtp.send_message(msg)
    _wait_for(sink, 1, guarded_relay)
    got = sink.received[0]
    assert (got["peer"], got["helo"], got["rcpt"]) == ("127.0.0.4", "relay4.test", ["bob@dest.test"])
