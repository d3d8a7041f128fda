"""The relay configuration from components/relay.py, run for real with Debian's Postfix on loopback.

Each relay listens on its own 127.x address, binds outgoing connections to it and says HELO with its
own name, exactly as a production relay binds its floating IP and says its PTR name. An aiosmtpd sink
on 127.0.0.1 stands in for the recipients' MX and records who connected and what HELO it heard.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import stat
import subprocess
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from components.relay import RelayConfig, render_files

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
MASTER = "/usr/lib/postfix/sbin/master"


def _free_port(host: str, *also: str) -> int:
    """A port the OS gives for ``host`` that is also free on each of ``also`` (IPv6 allowed)."""
    while True:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        try:
            for other in also:
                with socket.socket(socket.AF_INET6 if ":" in other else socket.AF_INET) as s:
                    s.bind((other, port))
            return port
        except OSError:
            continue


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
    port = _free_port("127.0.0.1")
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="sink.test")
    controller.start()
    handler.port = port
    yield handler
    controller.stop()


def _require_postfix() -> None:
    # A missing Postfix is a broken test machine, never a reason to skip (`make system-deps` installs it).
    assert os.path.exists(POSTFIX) and os.path.exists(MASTER), (
        "Debian's postfix is not installed: run `make system-deps` (preseed 'No configuration', then "
        "apt-get install postfix)")


class _Relay:
    def __init__(self, base: Path, cfg: RelayConfig) -> None:
        self.base, self.cfg, self.proc = base, cfg, None

    def start(self) -> None:
        etc = Path(self.cfg.config_directory)
        etc.mkdir(parents=True)
        Path(self.cfg.queue_directory).mkdir(parents=True)
        old = time.time() - 60
        for fname, text in render_files(self.cfg).items():
            (etc / fname).write_text(text)
            # A main.cf younger than a second makes postfix pause ~2 s "to let the file settle".
            os.utime(etc / fname, (old, old))
        check = subprocess.run([POSTFIX, "-c", str(etc), "check"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"postfix check failed: {check.stdout}{check.stderr}{self.log()}"
        assert check.stdout + check.stderr == "", f"postfix check warned: {check.stdout}{check.stderr}"
        # Other suites on this machine open connections from 127.x addresses too; one may hold the chosen
        # port for a moment between _free_port and master's bind, and master then exits silently (its
        # fatal errors reach only a tty). A master that fails three times in a row is a real failure.
        for _attempt in range(3):
            self.proc = subprocess.Popen([MASTER, "-c", str(etc), "-s"], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            if self._listening():
                return
            time.sleep(0.3)
        raise AssertionError(f"relay {self.cfg.name} never listened: {self.log()}")

    def _listening(self) -> bool:
        """True once every listener accepts; False when master exited first."""
        deadline = time.monotonic() + 10
        addresses = [a.strip("[]") for a in (self.cfg.listen_address, *self.cfg.extra_listen_addresses)]
        while addresses and time.monotonic() < deadline:
            try:
                # A bare socket: nothing is said, so smtpd neither serves nor refuses it.
                socket.create_connection((addresses[0], self.cfg.port), timeout=0.5).close()
                addresses.pop(0)
            except OSError:
                if self.proc.poll() is not None:
                    return False
                time.sleep(0.02)
        assert not addresses, f"relay {self.cfg.name} never listened on {addresses}: {self.log()}"
        return True

    def log(self) -> str:
        p = Path(self.cfg.maillog_file or "")
        return p.read_text(errors="replace") if p.is_file() else "(no maillog)"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def relays(tmp_path):
    _require_postfix()
    # The postfix user must traverse every ancestor of the queue and data directories.
    for p in [tmp_path, *tmp_path.parents]:
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(p, mode | stat.S_IXOTH)
    started: list[_Relay] = []

    def make(name: str, address: str, helo: str, sink_port: int) -> _Relay:
        base = tmp_path / name
        cfg = RelayConfig(name=name, listen_address=address, port=_free_port(address), bind_address=address,
                          helo_name=helo, mynetworks="127.0.0.0/8", config_directory=str(base / "etc"),
                          queue_directory=str(base / "queue"), data_directory=str(base / "data"),
                          maillog_file=str(base / "maillog"), relayhost=f"[127.0.0.1]:{sink_port}", dns=False)
        relay = _Relay(base, cfg)
        relay.start()
        started.append(relay)
        return relay

    yield make
    for r in started:
        r.stop()


def _send(relay: _Relay, rcpt: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "anna@sender.test", rcpt, f"via {relay.cfg.name}"
    msg.set_content("hello")
    with smtplib.SMTP(relay.cfg.listen_address, relay.cfg.port, local_hostname="mailcow.test", timeout=10) as s:
        s.send_message(msg)


def _wait_for(sink: _Sink, count: int, relay: _Relay) -> None:
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
    relay_cfg = RelayConfig(name="relay4", listen_address="127.0.0.4", port=_free_port("127.0.0.4"),
                            bind_address="127.0.0.4", helo_name="relay4.test", mynetworks="127.0.0.9/32",
                            config_directory=str(tmp_path / "relay4" / "etc"),
                            queue_directory=str(tmp_path / "relay4" / "queue"),
                            data_directory=str(tmp_path / "relay4" / "data"),
                            maillog_file=str(tmp_path / "relay4" / "maillog"),
                            relayhost=f"[127.0.0.1]:{sink.port}", dns=False)
    relays("relay2", "127.0.0.2", "relay2.test", sink.port)  # makes the tmp tree traversable
    relay = _Relay(tmp_path / "relay4", relay_cfg)
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
    cfg = RelayConfig(name="relay4", listen_address="127.0.0.4", port=_free_port("127.0.0.4", "::1"),
                      bind_address="127.0.0.4", helo_name="relay4.test", mynetworks=f"{MAILCOW}/32",
                      extra_listen_addresses=("[::1]",), inet_protocols="all",
                      config_directory=str(base / "etc"), queue_directory=str(base / "queue"),
                      data_directory=str(base / "data"), maillog_file=str(base / "maillog"),
                      relayhost=f"[127.0.0.1]:{sink.port}", dns=False)
    relay = _Relay(base, cfg)
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
