"""``warmup status``: today's caps, sent, received, replied and placement per IP, mailbox and seed."""

from __future__ import annotations

import random

from coldmail.warmup.status import warmup_status
from coldmail.warmup.store import WarmupStore
from coldmail.warmup.worker import Worker

from .conftest import Clock


def test_status_counts_one_day_of_exchanges_with_their_placement(lab, lab_stack, history):
    stack = lab_stack()                                      # replyShare 0.3
    anna, seed = stack.address("anna"), stack.seeds[0]
    accounts = stack.accounts({anna}, seeds=False) + [a for a in stack.accounts(set()) if a.address == seed]
    clock = Clock()
    store = WarmupStore(history, clock)
    w = Worker(stack.settings, accounts, store, clock=clock, rng=random.Random(5), sleep=lambda s: None, timeout=10)
    w.tick()                                                 # 6 less floor(30% of 6) kept for answers: 5
    lab.wait_for(seed, "INBOX", 5)
    with lab.imap(seed) as c:                                # the seed's provider files two as spam
        c.select_folder("INBOX")
        c.move(c.search(["ALL"])[:2], "Junk")
    w.tick()                                                 # the seed keeps all six and answers one
    lab.wait_for(anna, "INBOX", 1)
    w.tick()                                                 # anna finds the answer
    doc = warmup_status(stack.settings, store, clock())
    mine = next(m for m in doc["mailboxes"] if m["address"] == anna)
    assert mine == {"address": anna, "ip": "mx1/ip1", "day": "2026-03-02", "cap": 6, "sent": 5, "received": 1,
                    "replied": 0, "placement": {"inbox": 3, "spam": 2, "promotions": 0}}
    others = [m for m in doc["mailboxes"] if m["address"] != anna]
    assert [(m["sent"], m["received"]) for m in others] == [(0, 0)] * 4
    alpha = next(i for i in doc["ips"] if i["ip"] == "mx1/ip1")
    assert (alpha["ip_cap"], alpha["mailbox_cap"], alpha["sent"], alpha["received"], alpha["replied"],
            alpha["placement"]) == (20, 6, 5, 1, 0, {"inbox": 3, "spam": 2, "promotions": 0})
    assert doc["seeds"][0] == {"address": seed, "provider": "gmail", "day": "2026-03-02", "cap": 20, "sent": 1,
                               "received": 5, "replied": 1, "placement": {"inbox": 1, "spam": 0, "promotions": 0}}
    assert doc["seeds"][1]["received"] == 0
