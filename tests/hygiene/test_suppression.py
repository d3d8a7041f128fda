"""Reports delivered into a real Dovecot, read over IMAP into the suppression list; rates into the history."""

import datetime as dt

import pytest
from imapclient import IMAPClient

from coldmail.hygiene import Account, ImapError, ingest_mailbox, observations, rates
from coldmail.hygiene.store import EVERY_DOMAIN, Event, to_csv
from coldmail.ops.history import Observation
from coldmail.ops.notify import Notifier, record_and_notify
from coldmail.ops.signals import HYGIENE_BOUNCE_RATE, HYGIENE_COMPLAINTS, WARMUP_SENT
from tests.hygiene.conftest import PASSWORDS, account
from tests.hygiene.samples import arf, dsn, plain
from tests.ops.test_notify import Hook

ANNA, BEN, CARA = "anna@acme-growth.test", "ben@acme-growth.test", "cara@northwind.test"
USER_UNKNOWN = "550-5.1.1 The email account that you tried to reach does not exist"


def _rows(store, domain=None):
    return [(s.domain, s.address, s.kind) for s in store.suppressions(domain)]


def test_reports_in_mailboxes_become_a_suppression_list_per_sending_domain(dovecot, store):
    dovecot.deliver(ANNA, dsn(ANNA, [("bad@dest.test", "failed", "5.1.1", USER_UNKNOWN)]))
    dovecot.deliver(ANNA, dsn(ANNA, [("slow@dest.test", "delayed", "4.4.1", "Connection timed out")]))
    dovecot.deliver(ANNA, arf(ANNA, "angry@provider.test"))
    dovecot.deliver(ANNA, plain("jo@provider.test", ANNA))
    dovecot.deliver(CARA, dsn(CARA, [("bad@dest.test", "failed", "5.1.1", USER_UNKNOWN),
                                     ("full@dest.test", "failed", "5.2.2", "552 mailbox full")]))
    anna = ingest_mailbox(store, account(dovecot, ANNA))
    cara = ingest_mailbox(store, account(dovecot, CARA))
    assert anna.to_dict() == {"sends": 0, "hard": 1, "soft": 1, "complaints": 1, "reports": 3}
    assert cara.to_dict() == {"sends": 0, "hard": 1, "soft": 1, "complaints": 0, "reports": 1}
    assert _rows(store) == [("acme-growth.test", "angry@provider.test", "complaint"),
                            ("acme-growth.test", "bad@dest.test", "hard"),
                            ("northwind.test", "bad@dest.test", "hard")]
    assert _rows(store, "northwind.test") == [("northwind.test", "bad@dest.test", "hard")]


def test_a_second_scan_reads_nothing_again_and_leaves_every_message_unread(dovecot, store):
    dovecot.deliver(BEN, dsn(BEN, [("bad@dest.test", "failed", "5.1.1", USER_UNKNOWN)]))
    assert ingest_mailbox(store, account(dovecot, BEN)).hard == 1
    dovecot.deliver(BEN, dsn(BEN, [("gone@dest.test", "failed", "5.1.1", USER_UNKNOWN)]))
    again = ingest_mailbox(store, account(dovecot, BEN))
    assert again.to_dict() == {"sends": 0, "hard": 1, "soft": 0, "complaints": 0, "reports": 1}
    with IMAPClient("127.0.0.1", port=dovecot.imap_port, ssl=False) as c:
        c.login(BEN, PASSWORDS[BEN])
        c.select_folder("INBOX", readonly=True)
        flags = c.get_flags(c.search("ALL"))
    assert len(flags) == 2 and not any(b"\\Seen" in f for f in flags.values())


def test_a_report_filed_into_junk_is_read_too(dovecot, store):
    dovecot.deliver("anna+Junk@acme-growth.test", arf(ANNA, "spamtrap@provider.test"))
    assert ingest_mailbox(store, account(dovecot, ANNA)).complaints == 1
    assert _rows(store) == [("acme-growth.test", "spamtrap@provider.test", "complaint")]


def test_imap_over_tls_verifies_the_certificate_against_the_ca_bundle(dovecot, store):
    dovecot.deliver(ANNA, dsn(ANNA, [("bad@dest.test", "failed", "5.1.1", USER_UNKNOWN)]))
    assert ingest_mailbox(store, account(dovecot, ANNA, tls=True)).hard == 1
    untrusted = Account(ANNA, "127.0.0.1", dovecot.imaps_port, PASSWORDS[ANNA])  # the system's CAs only
    with pytest.raises(ImapError, match="cannot reach the IMAP server .*CERTIFICATE_VERIFY_FAILED"):
        ingest_mailbox(store, untrusted)
    wrong = Account(ANNA, "127.0.0.1", dovecot.imap_port, "not-the-password", tls=False)
    with pytest.raises(ImapError, match=f"refused the login of {ANNA}"):
        ingest_mailbox(store, wrong)


def _bounces(store, mailbox, n, at):
    for i in range(n):
        store.add(Event(f"bounce:T{mailbox}{i}:x{i}@dest.test", "hard", mailbox, f"x{i}@dest.test", "5.1.1",
                        "user unknown", "imap"), at)


def _sent(history, mailbox, value, day, at):
    history.record([Observation(WARMUP_SENT, f"mailbox:{mailbox}", "info", f"{value} sent", "warmup",
                                value=value, data={"cap": 40, "day": day})], at)


def test_rates_past_three_percent_fail_for_the_mailbox_and_its_domain_and_alert_once(store, history):
    now = dt.datetime(2026, 8, 5, 12, 0, tzinfo=dt.timezone.utc)
    # Warmup recorded 40 and 60 sends for anna on two days (its last figure per day counts), 100 for ben.
    _sent(history, ANNA, 20, "2026-08-03", now - dt.timedelta(days=2, hours=2))
    _sent(history, ANNA, 40, "2026-08-03", now - dt.timedelta(days=2))
    _sent(history, ANNA, 60, "2026-08-04", now - dt.timedelta(days=1))
    _sent(history, BEN, 100, "2026-08-04", now - dt.timedelta(days=1))
    _bounces(store, ANNA, 4, now - dt.timedelta(days=1))       # 4 / 100 = 4 %
    _bounces(store, BEN, 1, now - dt.timedelta(days=1))        # 1 / 100 = 1 %
    _bounces(store, CARA, 1, now - dt.timedelta(days=9))       # outside the 7-day window
    store.add(Event("complaint:c1:angry@provider.test", "complaint", BEN, "angry@provider.test", "abuse",
                    "complaint (abuse)", "imap"), now - dt.timedelta(hours=1))
    obs = observations(rates(store, history, [ANNA, BEN, CARA], now=now))
    got = {(o.check, o.subject): (o.status, o.value) for o in obs}
    assert got == {
        (HYGIENE_BOUNCE_RATE, "mailbox:anna@acme-growth.test"): ("fail", 0.04),
        (HYGIENE_BOUNCE_RATE, "mailbox:ben@acme-growth.test"): ("ok", 0.01),
        (HYGIENE_BOUNCE_RATE, "mailbox:cara@northwind.test"): ("ok", 0.0),
        (HYGIENE_BOUNCE_RATE, "domain:acme-growth.test"): ("ok", 0.025),
        (HYGIENE_BOUNCE_RATE, "domain:northwind.test"): ("ok", 0.0),
        # one complaint in 100 sends is 1 %, ten times Gmail's 0.1 %
        (HYGIENE_COMPLAINTS, "mailbox:anna@acme-growth.test"): ("ok", 0.0),
        (HYGIENE_COMPLAINTS, "mailbox:ben@acme-growth.test"): ("fail", 1.0),
        (HYGIENE_COMPLAINTS, "mailbox:cara@northwind.test"): ("ok", 0.0),
        (HYGIENE_COMPLAINTS, "domain:acme-growth.test"): ("fail", 1.0),
        (HYGIENE_COMPLAINTS, "domain:northwind.test"): ("ok", 0.0),
    }
    anna = next(o for o in obs if o.subject == "mailbox:anna@acme-growth.test" and o.check == HYGIENE_BOUNCE_RATE)
    assert anna.summary == "4 hard bounce(s) in 100 send(s) over 7 days: 4.0%, above 3%"

    hook = Hook()
    try:
        notifier = Notifier([hook.url], retries=0)
        changes, delivery = record_and_notify(history, obs, notifier, stack="prod", what="hygiene")
        assert sorted((c.observation.check, c.observation.subject) for c in changes) == [
            (HYGIENE_BOUNCE_RATE, "mailbox:anna@acme-growth.test"),
            (HYGIENE_COMPLAINTS, "domain:acme-growth.test"),
            (HYGIENE_COMPLAINTS, "mailbox:ben@acme-growth.test")]
        assert delivery.ok and len(hook.posts) == 1
        assert hook.posts[0]["title"] == "coldmail prod: 3 hygiene change(s)"
        # The warmup hold reads these by name: the failing subjects are in the current state.
        held = {(s.observation.check, s.observation.subject) for s in history.current(check_prefix="hygiene.")
                if s.observation.status == "fail"}
        assert held == {(c.observation.check, c.observation.subject) for c in changes}
        # The same state again: nothing changed, nothing is sent.
        assert record_and_notify(history, obs, notifier, stack="prod", what="hygiene") == ([], None)
        assert len(hook.posts) == 1
    finally:
        hook.close()


def test_manual_entries_apply_to_every_domain_and_export_as_csv_with_email_first(store):
    assert store.suppress(EVERY_DOMAIN, "Opted.Out@Provider.test", "asked by phone",
                          at=dt.datetime(2026, 8, 1, tzinfo=dt.timezone.utc))
    assert not store.suppress(EVERY_DOMAIN, "opted.out@provider.test", "again",
                              at=dt.datetime(2026, 8, 4, tzinfo=dt.timezone.utc))
    store.add(Event("bounce:Q1:bad@dest.test", "hard", ANNA, "bad@dest.test", "5.1.1", "user unknown", "log"),
              dt.datetime(2026, 8, 2, tzinfo=dt.timezone.utc))
    store.add(Event("bounce:Q2:bad@dest.test", "hard", CARA, "bad@dest.test", "5.1.1", "user unknown", "log"),
              dt.datetime(2026, 8, 3, tzinfo=dt.timezone.utc))
    assert _rows(store, "acme-growth.test") == [("*", "opted.out@provider.test", "manual"),
                                                ("acme-growth.test", "bad@dest.test", "hard")]
    assert to_csv(store.suppressions()) == (
        "email,type,reason,sending_domain,source,first_seen,last_seen,count\n"
        "opted.out@provider.test,manual,asked by phone,*,manual,2026-08-01T00:00:00+00:00,"
        "2026-08-04T00:00:00+00:00,2\n"
        "bad@dest.test,hard,5.1.1 user unknown,acme-growth.test,log,2026-08-02T00:00:00+00:00,"
        "2026-08-02T00:00:00+00:00,1\n")
