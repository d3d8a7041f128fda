"""Bounces in Postfix's logs: a real sending relay (components/relay.py's configuration) on loopback meets a
recipient MX that refuses one address and greylists another; its log and the report it mails back to the
sender's mailbox (a real Dovecot) both reach the suppression list, counted once."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from imapclient import IMAPClient

from coldmail.hygiene import ingest_deliveries, ingest_mailbox, parse_maillog
from components.relay import RelayConfig
from tests.hygiene.conftest import PASSWORDS, account
from tests.support.mta import PostfixInstance, free_port, make_traversable, require_postfix

ANNA = "anna@acme-growth.test"


class _RecipientMx:
    """Refuses bad@ (550 5.1.1), greylists busy@ (450 4.2.0), takes the rest; mail for the stack's domain
    (the relay's bounce report) goes on into Dovecot, as it would reach Mailcow."""

    def __init__(self, dovecot):
        self.dovecot, self.delivered = dovecot, []

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802 (aiosmtpd hook)
        if address.startswith("bad@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
        if address.startswith("busy@"):
            return f"450 4.2.0 <{address}>: Recipient address rejected: Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        for rcpt in envelope.rcpt_tos:
            if rcpt.endswith("@acme-growth.test"):
                self.dovecot.deliver(rcpt, envelope.original_content, envelope.mail_from)
            else:
                self.delivered.append(rcpt)
        return "250 OK queued"


@pytest.fixture
def relay(tmp_path, dovecot):
    require_postfix()
    make_traversable(tmp_path)
    handler = _RecipientMx(dovecot)
    mx = Controller(handler, hostname="127.0.0.1", port=free_port(), server_hostname="mx.dest.test")
    mx.start()
    base = tmp_path / "relay1"
    cfg = RelayConfig(name="relay1", listen_address="127.0.0.2", port=free_port("127.0.0.2"), bind_address="127.0.0.2",
                      helo_name="mx1-ip1.acme-mailops.test", mynetworks="127.0.0.0/8",
                      config_directory=str(base / "etc"), queue_directory=str(base / "queue"),
                      data_directory=str(base / "data"), maillog_file=str(base / "maillog"),
                      relayhost=f"[127.0.0.1]:{mx.port}", dns=False)
    instance = PostfixInstance(base, cfg)
    instance.start()
    yield instance
    instance.stop()
    mx.stop()


def _wait(predicate, what, log):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} never happened; relay log:\n{log()}")


def _inbox_count(dovecot) -> int:
    with IMAPClient("127.0.0.1", port=dovecot.imap_port, ssl=False) as c:
        c.login(ANNA, PASSWORDS[ANNA])
        return c.select_folder("INBOX", readonly=True)[b"EXISTS"]


def test_a_relay_bounce_reaches_the_list_from_its_log_and_its_report_and_counts_once(relay, dovecot, store):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = ANNA, "ok@dest.test, bad@dest.test, busy@dest.test", "quick question"
    msg.set_content("Hi, are you the right person for this?")
    with smtplib.SMTP("127.0.0.2", relay.cfg.port, local_hostname="mailcow.test", timeout=10) as s:
        s.send_message(msg)
    log = Path(relay.cfg.maillog_file)
    _wait(lambda: log.exists() and all(f"status={s}" in log.read_text() for s in ("sent", "bounced", "deferred")),
          "all three outcomes in the log", relay.log)
    _wait(lambda: _inbox_count(dovecot) == 1, "the bounce report in anna's inbox", relay.log)
    # Dovecot may hold the report a moment before Postfix logs its own status=sent for it.
    _wait(lambda: log.read_text().count("status=sent") == 2, "the report's delivery in the log", relay.log)

    deliveries = parse_maillog(log.read_text().splitlines())
    assert sorted((d.instance, d.sender, d.recipient, d.status, d.dsn, d.kind) for d in deliveries) == [
        # the bounce report itself, from the null sender back to anna
        ("postfix-relay1", "", ANNA, "sent", "2.0.0", None),
        ("postfix-relay1", ANNA, "bad@dest.test", "bounced", "5.1.1", "hard"),
        ("postfix-relay1", ANNA, "busy@dest.test", "deferred", "4.2.0", "soft"),
        ("postfix-relay1", ANNA, "ok@dest.test", "sent", "2.0.0", None)]
    bounced = next(d for d in deliveries if d.status == "bounced")
    assert "User unknown" in bounced.reason

    from_log = ingest_deliveries(store, deliveries, [ANNA])
    assert from_log.to_dict() == {"sends": 2, "hard": 1, "soft": 1, "complaints": 0, "reports": 0}
    # The relay's own report of the same bounce carries its queue id: read, but not counted again.
    from_mail = ingest_mailbox(store, account(dovecot, ANNA))
    assert from_mail.to_dict() == {"sends": 0, "hard": 0, "soft": 0, "complaints": 0, "reports": 1}
    assert [(s.domain, s.address, s.kind, s.count) for s in store.suppressions()] == [
        ("acme-growth.test", "bad@dest.test", "hard", 1)]


MAILCOW_LOG = """\
2026-08-05T10:00:00.1Z Aug  5 10:00:00 mx1 postfix/qmgr[301]: 4A1B2C3D4E: from=<anna@acme-growth.test>, size=812, nrcpt=1 (queue active)
2026-08-05T10:00:00.2Z Aug  5 10:00:00 mx1 postfix/smtp[302]: 4A1B2C3D4E: to=<bob@dest.test>, relay=172.22.1.1[172.22.1.1]:2526, delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F8E7D6C5B)
2026-08-05T10:00:01.0Z Aug  5 10:00:01 mx1 postfix/qmgr[301]: 5B2C3D4E5F: from=<stranger@elsewhere.test>, size=500, nrcpt=1 (queue active)
2026-08-05T10:00:01.1Z Aug  5 10:00:01 mx1 postfix/lmtp[303]: 5B2C3D4E5F: to=<anna@acme-growth.test>, relay=dovecot[172.22.1.250]:24, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <anna@acme-growth.test> Saved)
"""


def test_hops_inside_the_stack_and_mail_from_strangers_are_not_sends(store):
    deliveries = parse_maillog(MAILCOW_LOG.splitlines())
    assert [(d.sender, d.recipient, d.internal) for d in deliveries] == [
        (ANNA, "bob@dest.test", True), ("stranger@elsewhere.test", ANNA, True)]
    assert ingest_deliveries(store, deliveries, [ANNA]).sends == 0
