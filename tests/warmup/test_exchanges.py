"""Real exchanges on loopback: Postfix submission with AUTH in front of Dovecot, mail found, moved, answered."""

from __future__ import annotations

import random
from collections import Counter

from coldmail.warmup.store import SENT, WarmupStore
from coldmail.warmup.worker import Worker

from .conftest import Clock
from .mail_lab import RATE_LIMITED

HEADER = "X-Coldmail-Warmup"


def _worker(stack, accounts, history, clock, sleeps=None, **kw):
    store = WarmupStore(history, clock)
    return Worker(stack.settings, accounts, store, clock=clock, rng=random.Random(7),
                  sleep=(sleeps.append if sleeps is not None else (lambda s: None)), timeout=10, **kw)


def _sends(store):
    return store._db.execute("SELECT sender, recipient, kind, status, token FROM warmup_sends "
                             "ORDER BY reserved_at").fetchall()


def test_a_mailbox_sends_its_cap_over_authenticated_submission_and_every_message_arrives(lab, lab_stack, history):
    stack = lab_stack(pauseSeconds=8)
    anna, seed = stack.address("anna"), stack.seeds[0]
    sleeps: list[float] = []
    w = _worker(stack, stack.accounts({anna}, seeds=False) + [a for a in stack.accounts(set()) if a.address == seed],
                history, Clock(), sleeps)
    report = w.tick()
    # Day 0: 20 per IP shared by 3 mailboxes is 6 each, less floor(30% of 6) kept for answers.
    assert (report.sent, report.refused, report.errors) == (5, 0, [])
    assert len(sleeps) == 4 and all(2.0 <= s <= 8.0 for s in sleeps)    # a pause between messages, not before
    lab.queue_empty()
    tokens = [t for s, r, k, st, t in _sends(w.store) if (s, r, k, st) == (anna, seed, "exchange", SENT)]
    assert len(tokens) == 5
    assert sorted(lab.folder_headers(seed, "INBOX", HEADER)) == sorted(tokens)
    again = w.tick()
    # Nothing more is due from anna; the only send is the seed's answer (30% of 5 received, rounded down).
    assert (again.received, again.replied, again.sent) == (5, 1, 1)
    assert w.store.count("sender", anna, Clock().now.date()) == 5


def test_four_sends_in_five_leave_the_server_when_a_partner_elsewhere_exists(lab, lab_stack, history):
    stack = lab_stack(replyShare=0)
    anna, jonas, paul = stack.address("anna"), stack.address("jonas"), stack.address("paul")
    w = _worker(stack, stack.accounts({anna, jonas, paul}, seeds=False), history, Clock())
    w.tick()
    pairs = Counter((s, r) for s, r, *_ in _sends(w.store))
    assert pairs[(anna, paul)] == 5 and pairs[(anna, jonas)] == 1          # anna and jonas are on mx1, paul on mx2
    assert pairs[(jonas, paul)] == 5 and pairs[(jonas, anna)] == 1
    assert pairs[(paul, anna)] + pairs[(paul, jonas)] == 20               # paul has nobody on mx2 to talk to
    lab.queue_empty()
    assert lab.wait_for(paul, "INBOX", 10) == 10


def test_the_recipient_rescues_mail_from_junk_marks_it_read_and_important_and_answers_its_share(lab, lab_stack,
                                                                                             history):
    stack = lab_stack(replyShare=0.5, startPerIpPerDay=60)   # anna may send 20: 10 exchanges, 10 kept for answers
    anna, seed = stack.address("anna"), stack.seeds[0]
    accounts = stack.accounts({anna}, seeds=False) + [a for a in stack.accounts(set()) if a.address == seed]
    clock = Clock()
    w = _worker(stack, accounts, history, clock)
    assert w.tick().sent == 10
    lab.wait_for(seed, "INBOX", 10)
    # The seed's provider filed four of them as spam.
    with lab.imap(seed) as c:
        c.select_folder("INBOX")
        c.move(c.search(["ALL"])[:4], "Junk")
    report = w.tick()
    assert (report.received, report.rescued, report.replied, report.sent) == (10, 4, 5, 5)  # sent: the answers
    assert lab.count(seed, "Junk") == 0 and lab.count(seed, "INBOX") == 10
    assert lab.flags(seed, "INBOX") == [("\\Flagged", "\\Seen")] * 10
    placements = Counter(w.store._db.execute("SELECT placement FROM warmup_receipts").fetchall())
    assert placements == {("spam",): 4, ("inbox",): 6}
    # The five answers reach anna, threaded; she finds them next time and keeps them, answering none back.
    lab.wait_for(anna, "INBOX", 5)
    with lab.imap(anna) as c:
        c.select_folder("INBOX", readonly=True)
        got = c.fetch(c.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (SUBJECT IN-REPLY-TO)]"])
    heads = [d[b"BODY[HEADER.FIELDS (SUBJECT IN-REPLY-TO)]"].decode() for d in got.values()]
    originals = {r[0] for r in w.store._db.execute("SELECT message_id FROM warmup_sends WHERE kind = 'exchange'")}
    assert all("Subject: Re: " in h for h in heads)
    assert all(any(f"In-Reply-To: {m}" in h for m in originals) for h in heads)
    after = w.tick()
    assert (after.received, after.replied) == (5, 0)
    assert lab.flags(anna, "INBOX") == [("\\Flagged", "\\Seen")] * 5


def test_a_temporary_refusal_releases_the_reservation_and_stops_that_mailbox_for_this_run(lab, lab_stack, history):
    # Postfix answers 451 for this recipient, as Mailcow's rspamd does once a rate limit is reached.
    stack = lab_stack(seeds=[{"address": RATE_LIMITED, "password": "unused-test-password", "imapHost": "127.0.0.1",
                              "smtpHost": "127.0.0.1", "imapPort": lab.imap_port, "smtpPort": lab.smtp_port,
                              "tls": False}])
    anna = stack.address("anna")
    w = _worker(stack, stack.accounts({anna}, seeds=False) + stack.accounts(set()), history, Clock())
    report = w.tick()
    assert (report.sent, report.refused) == (0, 1)
    assert _sends(w.store)[0][3] == "refused"
    assert w.store.count("sender", anna, Clock().now.date()) == 0


def test_a_wrong_password_is_reported_by_address_without_the_password(lab, lab_stack, history):
    stack = lab_stack()
    anna = stack.address("anna")
    (account,) = stack.accounts({anna}, seeds=False)
    import dataclasses
    wrong = dataclasses.replace(account, password="not-the-password")
    report = _worker(stack, [wrong] + stack.accounts(set()), history, Clock()).tick()
    assert report.sent == 0
    assert report.errors == [f"SMTP login of {anna} at 127.0.0.1:{lab.smtp_port} refused (535)"]


class _DropAfterData:
    """An SMTP server that takes the whole message and hangs up before saying whether it accepted it."""

    def __init__(self):
        self.messages = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook name)
        self.messages += 1
        server.transport.close()
        return "250 never heard"


def test_a_connection_lost_after_the_message_went_out_counts_as_maybe_sent(lab, lab_stack, history):
    import dataclasses

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from coldmail.warmup.transport import Endpoint

    from .mail_lab import free_port

    handler, port = _DropAfterData(), free_port()
    server = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="drop.test", auth_require_tls=False,
                        authenticator=lambda *a: AuthResult(success=True))
    server.start()
    try:
        stack = lab_stack()
        anna = stack.address("anna")
        (account,) = stack.accounts({anna}, seeds=False)
        flaky = dataclasses.replace(account, smtp=Endpoint("127.0.0.1", port, tls=False))
        w = _worker(stack, [flaky] + stack.accounts(set()), history, Clock())
        report = w.tick()
    finally:
        server.stop()
    assert (report.sent, report.uncertain, handler.messages) == (0, 1, 1)
    assert [row[3] for row in _sends(w.store)] == ["uncertain"]
    assert w.store.count("sender", anna, Clock().now.date()) == 1   # counted: it may have gone out
