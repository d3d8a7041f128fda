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
                  sleep=(sleeps.append if sleeps is not None else (lambda s: None)), gap=(0.5, 2.0), timeout=10, **kw)


def _sends(store):
    return store._db.execute("SELECT sender, recipient, kind, status, token FROM warmup_sends "
                             "ORDER BY reserved_at").fetchall()


def test_a_mailbox_sends_its_cap_over_authenticated_submission_and_every_message_arrives(lab, lab_stack, history):
    stack = lab_stack()
    anna, seed = stack.address("anna"), stack.seeds[0]
    sleeps: list[float] = []
    w = _worker(stack, stack.accounts({anna}, seeds=False) + [a for a in stack.accounts(set()) if a.address == seed],
                history, Clock(), sleeps)
    report = w.tick()
    assert (report.sent, report.refused, report.errors) == (6, 0, [])   # day 0: 20 per IP shared by 3 mailboxes
    assert len(sleeps) == 5 and all(0.5 <= s <= 2.0 for s in sleeps)    # a pause between messages, not before
    lab.queue_empty()
    tokens = [t for s, r, k, st, t in _sends(w.store) if (s, r, k, st) == (anna, seed, "exchange", SENT)]
    assert len(tokens) == 6
    assert sorted(lab.folder_headers(seed, "INBOX", HEADER)) == sorted(tokens)
    again = w.tick()
    # anna's cap is used up: the only send is the seed's answer (30% of 6 received, rounded down).
    assert (again.received, again.replied, again.sent) == (6, 1, 1)
    assert w.store.count("sender", anna, Clock().now.date()) == 6


def test_four_sends_in_five_leave_the_server_when_a_partner_elsewhere_exists(lab, lab_stack, history):
    stack = lab_stack()
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
    stack = lab_stack(replyShare=0.5)
    anna, seed = stack.address("anna"), stack.seeds[0]
    accounts = stack.accounts({anna}, seeds=False) + [a for a in stack.accounts(set()) if a.address == seed]
    clock = Clock()
    w = _worker(stack, accounts, history, clock)
    assert w.tick().sent == 6
    lab.wait_for(seed, "INBOX", 6)
    # The seed's provider filed two of them as spam.
    with lab.imap(seed) as c:
        c.select_folder("INBOX")
        c.move(c.search(["ALL"])[:2], "Junk")
    report = w.tick()
    assert (report.received, report.rescued, report.replied, report.sent) == (6, 2, 3, 3)  # sent: the answers
    assert lab.count(seed, "Junk") == 0 and lab.count(seed, "INBOX") == 6
    assert lab.flags(seed, "INBOX") == [("\\Flagged", "\\Seen")] * 6
    placements = Counter(w.store._db.execute("SELECT placement FROM warmup_receipts").fetchall())
    assert placements == {("spam",): 2, ("inbox",): 4}
    # The three answers reach anna, threaded; she finds them next time and keeps them, answering none back.
    lab.wait_for(anna, "INBOX", 3)
    with lab.imap(anna) as c:
        c.select_folder("INBOX", readonly=True)
        got = c.fetch(c.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (SUBJECT IN-REPLY-TO)]"])
    heads = [d[b"BODY[HEADER.FIELDS (SUBJECT IN-REPLY-TO)]"].decode() for d in got.values()]
    originals = {r[0] for r in w.store._db.execute("SELECT message_id FROM warmup_sends WHERE kind = 'exchange'")}
    assert all("Subject: Re: " in h for h in heads)
    assert all(any(f"In-Reply-To: {m}" in h for m in originals) for h in heads)
    after = w.tick()
    assert (after.received, after.replied) == (3, 0)
    assert lab.flags(anna, "INBOX") == [("\\Flagged", "\\Seen")] * 3


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
