"""Placement: probes from every IP and domain to the seeds, read from Dovecot folders standing in for a provider's."""

from __future__ import annotations

import datetime as _dt
import random

from coldmail.ops import signals
from coldmail.warmup import placement
from coldmail.warmup.store import WarmupStore
from coldmail.warmup.transport import SEED, Account, Endpoint, ImapSession
from coldmail.warmup.worker import Worker

from .conftest import Clock


def _worker(stack, history):
    clock = Clock()
    only = {stack.address("anna"), stack.address("lena"), stack.address("paul")}
    return Worker(stack.settings, stack.accounts(only), WarmupStore(history, clock), clock=clock,
                  rng=random.Random(3), sleep=lambda s: None, timeout=10)


def _providers(**counts):
    base = {"inbox": 0, "spam": 0, "promotions": 0, "missing": 0}
    return {p: {**base, **c} for p, c in counts.items()}


def test_probes_are_classified_by_the_folder_each_provider_put_them_in(lab, lab_stack, history):
    stack = lab_stack()
    gmail, outlook = stack.seeds        # seed0 files promotions in "Promotions"; seed1's spam folder is found by \Junk
    alpha, beta, gamma = (d.name for d in stack.settings.domains)
    w = _worker(stack, history)
    batch = placement.send_probes(w, w.clock())
    assert (batch.sent, batch.skipped, batch.errors) == (6, [], [])
    lab.queue_empty()
    # What each provider's filter did with them:
    assert lab.move_all(gmail, "INBOX", "Promotions", alpha) == 1
    assert lab.move_all(gmail, "INBOX", "Junk", beta) == 1
    assert lab.move_all(outlook, "INBOX", "Junk", gamma) == 1
    with lab.imap(outlook) as c:                        # and one the provider dropped without a word
        c.select_folder("INBOX")
        c.delete_messages(c.search(["FROM", alpha]))
        c.expunge()
    assert placement.wait_for_probes(w, batch.id, wait=0) == 1
    summary = placement.summarize(w, batch.id, w.ramps(w.clock()))
    assert [(r["ip"], r["probes"], r["inbox_share"], r["status"], r["providers"]) for r in summary["ips"]] == [
        ("mx1/ip1", 2, 0.5, "warn", _providers(gmail={"promotions": 1}, outlook={"missing": 1})),
        ("mx1/ip2", 2, 0.5, "warn", _providers(gmail={"spam": 1}, outlook={"inbox": 1})),
        ("mx2/ip1", 2, 0.5, "warn", _providers(gmail={"inbox": 1}, outlook={"spam": 1})),
    ]
    assert [(r["domain"], r["inbox_share"]) for r in summary["domains"]] == [(alpha, 0.5), (beta, 0.5), (gamma, 0.5)]
    # Reading kept them like any warmup mail: out of spam, read and flagged.
    assert lab.count(gmail, "Junk") == 0 and lab.count(outlook, "Junk") == 0
    assert lab.flags(gmail, "INBOX") == [("\\Flagged", "\\Seen")] * 2
    placement.record(w, summary, w.clock())
    states = {s.observation.subject: s.observation for s in history.current(check_prefix=signals.WARMUP_PLACEMENT)}
    assert states["ip:mx1/ip2"].status == "warn" and states["ip:mx1/ip2"].value == 0.5
    assert states["ip:mx1/ip2"].summary == ("50% in the inbox (gmail: 0 inbox, 0 promotions, 1 spam, 0 missing, "
                                            "outlook: 1 inbox, 0 promotions, 0 spam, 0 missing)")
    assert set(states) == {"ip:mx1/ip1", "ip:mx1/ip2", "ip:mx2/ip1", f"domain:{alpha}", f"domain:{beta}",
                           f"domain:{gamma}"}


def test_a_sample_sends_from_the_first_domains_of_each_ip_only(lab, lab_stack, history):
    stack = lab_stack(domains=[{"name": "delta-example.com", "server": "mx1", "ip": 1,
                                "mailboxes": [{"localPart": "eva", "name": "Eva Roth"}]}])
    clock = Clock()
    w = Worker(stack.settings, stack.accounts(), WarmupStore(history, clock), clock=clock, sleep=lambda s: None,
               timeout=10)
    sample = placement.send_probes(w, clock(), sample=1)
    assert {p["sender"] for p in w.store.placements(sample.id)} == {
        stack.address("anna"), stack.address("lena"), stack.address("paul")}   # delta is alpha's IP's second
    every = placement.send_probes(w, clock())
    assert {p["sender"] for p in w.store.placements(every.id)} == {
        stack.address("anna"), stack.address("lena"), stack.address("paul"), stack.address("eva")}


def test_a_domain_without_a_login_is_skipped_and_said_so(lab, lab_stack, history):
    stack = lab_stack()
    clock = Clock()
    w = Worker(stack.settings, stack.accounts({stack.address("anna")}), WarmupStore(history, clock), clock=clock,
               sleep=lambda s: None, timeout=10)
    batch = placement.send_probes(w, clock())
    assert batch.sent == 2
    assert [(s["domain"], s["reason"]) for s in batch.skipped] == [
        (stack.settings.domains[1].name, "no login for any of its mailboxes"),
        (stack.settings.domains[2].name, "no login for any of its mailboxes")]


class _GmailLike:
    """Records an IMAP session with a server that speaks Gmail's extension (no Dovecot does)."""

    def __init__(self):
        self.calls = []

    def login(self, user, password):
        self.calls.append(("login", user))

    def capabilities(self):
        return (b"IMAP4REV1", b"X-GM-EXT-1", b"MOVE")

    def list_folders(self):
        return [((b"\\HasNoChildren",), b"/", "INBOX"), ((b"\\HasNoChildren", b"\\Junk"), b"/", "[Gmail]/Spam")]

    def select_folder(self, name, readonly=False):
        self.calls.append(("select", name))

    def search(self, criteria):
        return [11, 12] if self.calls[-1] == ("select", "INBOX") else []

    def gmail_search(self, query):
        self.calls.append(("gmail_search", query))
        return [12]

    def fetch(self, uids, items):
        key = items[0].replace("BODY.PEEK", "BODY").encode()
        return {u: {key: f"X-Coldmail-Warmup: tok{u}\r\nMessage-ID: <m{u}@x>\r\n\r\n".encode()} for u in uids}

    def logout(self):
        self.calls.append(("logout",))


def test_gmails_promotions_tab_is_read_through_gmails_search_extension():
    fake = _GmailLike()
    seed = Account("me@gmail.com", "", SEED, Endpoint("imap.gmail.com", 993), Endpoint("imap.gmail.com", 993),
                   provider="gmail", password="app-password-test")
    with ImapSession(seed, client_factory=lambda ep, timeout: fake) as box:
        found = box.find("X-Coldmail-Warmup", _dt.date(2026, 3, 1))
    assert [(f.token, f.folder, f.placement) for f in found] == [("tok11", "INBOX", "inbox"),
                                                                 ("tok12", "INBOX", "promotions")]
    assert ("gmail_search", "category:promotions newer_than:7d") in fake.calls
    assert ("select", "[Gmail]/Spam") in fake.calls
