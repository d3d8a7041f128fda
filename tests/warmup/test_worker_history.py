"""The worker writes warmup.sent and warmup.hold to the shared history only on change, and alerts on holds."""

from __future__ import annotations

from coldmail.ops import signals
from coldmail.ops.history import FAIL, OK, Observation
from coldmail.ops.notify import Notifier
from coldmail.warmup.store import WarmupStore
from coldmail.warmup.worker import Worker
from tests.ops.test_notify import Hook

from .conftest import Clock, settings

ADDRESSES = {"mx1/ip1": "203.0.113.11", "mx1/ip2": "203.0.113.12", "mx2/ip1": "203.0.113.21"}


def _rows(history, check):
    return [o for o in history.observations(check_prefix=check)]


def test_a_hold_is_recorded_and_alerted_once_when_it_starts_and_once_when_it_ends(history):
    hook = Hook()
    try:
        clock = Clock()
        w = Worker(settings(), [], WarmupStore(history, clock), stack="prod", addresses=ADDRESSES, clock=clock,
                   notifier=Notifier([hook.url], sleep=lambda s: None))
        w.tick()
        assert hook.posts == []                     # a healthy first run is no news
        history.record([Observation("blacklist.zen", "ip:203.0.113.11", FAIL, "listed on ZEN", "checks")],
                       at=clock())
        w.tick()
        w.tick()
        clock.next_day()
        history.record([Observation("blacklist.zen", "ip:203.0.113.11", OK, "clean", "checks")], at=clock())
        w.tick()
    finally:
        hook.close()
    assert [p["title"] for p in hook.posts] == ["coldmail prod: 1 warmup hold change(s)"] * 2
    assert hook.posts[0]["message"] == (
        "ip:203.0.113.11: warmup.hold ok → warn — listed: listed on ZEN (blacklist.zen on ip:203.0.113.11 since "
        "2026-03-02)")
    assert hook.posts[1]["message"] == "ip:203.0.113.11: warmup.hold warn → ok — ramp growing"
    holds = [(o.subject, o.status) for o in _rows(history, signals.WARMUP_HOLD) if o.subject == "ip:203.0.113.11"]
    assert holds == [("ip:203.0.113.11", "ok"), ("ip:203.0.113.11", "warn"), ("ip:203.0.113.11", "ok")]


def test_sends_against_the_cap_are_recorded_per_ip_when_they_change(history):
    clock = Clock()
    w = Worker(settings(), [], WarmupStore(history, clock), addresses=ADDRESSES, clock=clock)
    w.tick()
    w.tick()
    sent = [(o.subject, o.value, o.data["cap"], o.data["day"]) for o in _rows(history, signals.WARMUP_SENT)]
    assert sent == [("ip:203.0.113.11", 0.0, 20, "2026-03-02"), ("ip:203.0.113.12", 0.0, 20, "2026-03-02"),
                    ("ip:203.0.113.21", 0.0, 20, "2026-03-02")]
    clock.next_day(7)
    w.tick()
    assert [o.data["cap"] for o in _rows(history, signals.WARMUP_SENT)][3:] == [40, 40, 40]
