"""The ramp holds on bad health written to the history by the other capabilities, says why, and resumes."""

from __future__ import annotations

import datetime as _dt

import pytest

from coldmail.ops import signals
from coldmail.ops.history import FAIL, INFO, OK, WARN, Observation
from coldmail.warmup.ramps import current_ramps
from coldmail.warmup.store import WarmupStore

from .conftest import START, at, settings

ALPHA_IP = "203.0.113.11"
ADDRESSES = {"mx1/ip1": ALPHA_IP, "mx1/ip2": "203.0.113.12", "mx2/ip1": "203.0.113.21"}


def _obs(check, subject, status, value=None, summary="seen by a test"):
    return Observation(check, subject, status, summary, "checks", value)


def _alpha(history, store, day=START, record=True):
    ramps = current_ramps(settings(), store, history, at(day), ADDRESSES, record=record)
    return next(r for r in ramps if r.ip.label == "mx1/ip1")


@pytest.mark.parametrize("observation, reason", [
    (_obs("blacklist.zen", f"ip:{ALPHA_IP}", FAIL, summary="listed on Spamhaus ZEN"),
     "listed: listed on Spamhaus ZEN (blacklist.zen on ip:203.0.113.11 since 2026-03-02)"),
    (_obs("dns.spf", "domain:alpha-example.com", FAIL, summary="SPF differs"),
     "DNS drift: SPF differs (dns.spf on domain:alpha-example.com since 2026-03-02)"),
    (_obs(signals.HYGIENE_BOUNCE_RATE, "domain:alpha-example.com", WARN, 0.031),
     "bounce rate 3.1% over 3% (hygiene.bounce_rate on domain:alpha-example.com since 2026-03-02)"),
    (_obs(signals.HYGIENE_COMPLAINTS, "mailbox:anna@alpha-example.com", WARN, 1),
     "1 complaint(s) (hygiene.complaints on mailbox:anna@alpha-example.com since 2026-03-02)"),
    (_obs("postmaster.spam_rate", "domain:alpha-example.com", FAIL, 0.004, summary="spam rate 0.4%"),
     "Postmaster: spam rate 0.4% (postmaster.spam_rate on domain:alpha-example.com since 2026-03-02)"),
    (_obs("dns.ptr", "domain:mx1-ip1.ops-example.com", FAIL, summary="PTR missing"),
     "DNS drift: PTR missing (dns.ptr on domain:mx1-ip1.ops-example.com since 2026-03-02)"),
])
def test_each_kind_of_bad_health_holds_the_ramp_and_says_why(history, store, observation, reason):
    history.record([observation], at=at(START))
    r = _alpha(history, store)
    assert r.hold.reasons == (reason,)
    assert r.today.held


@pytest.mark.parametrize("observation", [
    _obs(signals.HYGIENE_BOUNCE_RATE, "domain:alpha-example.com", OK, 0.03),          # 3% is not over 3%
    _obs(signals.HYGIENE_COMPLAINTS, "domain:alpha-example.com", OK, 0),
    _obs("dns.mx", "domain:alpha-example.com", WARN, summary="TTL differs"),           # only failures hold
    _obs("blacklist.uceprotect_l2", f"ip:{ALPHA_IP}", INFO, summary="informational"),
    _obs("blacklist.zen", "ip:203.0.113.12", FAIL, summary="the other IP"),           # not alpha's IP
    _obs("blacklist.dbl", "domain:beta-example.com", FAIL, summary="beta's domain"),  # not on alpha's IP
    _obs("tls.expiry", "server:mx1", FAIL, summary="certificate"),                     # not a hold family
])
def test_health_that_is_fine_or_belongs_to_another_ip_does_not_hold(history, store, observation):
    history.record([observation], at=at(START))
    assert _alpha(history, store).hold.reasons == ()


def test_a_listing_holds_for_days_then_the_ramp_resumes_where_it_stopped(history, store):
    day = START + _dt.timedelta(days=5)
    caps = []
    for offset in range(5, 12):
        day = START + _dt.timedelta(days=offset)
        if offset == 6:
            history.record([_obs("blacklist.zen", f"ip:{ALPHA_IP}", FAIL, summary="listed")], at=at(day, 9))
        if offset == 9:
            history.record([_obs("blacklist.zen", f"ip:{ALPHA_IP}", OK, summary="delisted")], at=at(day, 9))
        r = _alpha(history, store, day)
        caps.append((day.day, r.today.ramp, r.today.ip_cap, r.hold.held))
    assert caps == [(7, 5, 20, False), (8, 5, 20, True), (9, 5, 20, True), (10, 5, 20, True),
                    (11, 6, 20, False), (12, 7, 40, False), (13, 8, 40, False)]
    assert sorted(store.held_days("mx1/ip1")) == [_dt.date(2026, 3, 8), _dt.date(2026, 3, 9), _dt.date(2026, 3, 10)]


def test_a_held_day_stays_held_once_recorded_even_if_health_recovers_later_that_day(history, store):
    history.record([_obs("dns.spf", "domain:alpha-example.com", FAIL)], at=at(START, 8))
    assert _alpha(history, store).today.held
    history.record([_obs("dns.spf", "domain:alpha-example.com", OK)], at=at(START, 9))
    later = _alpha(history, store)
    assert later.hold.reasons == () and later.today.held


def test_status_reads_a_hold_without_recording_it(history, store):
    history.record([_obs("blacklist.zen", f"ip:{ALPHA_IP}", FAIL)], at=at(START))
    assert _alpha(history, store, record=False).today.held
    assert store.held_days("mx1/ip1") == frozenset()


def test_an_ip_added_later_starts_its_own_ramp_on_the_day_it_appears(history):
    store = WarmupStore(history)
    later = START + _dt.timedelta(days=20)
    assert store.register_ips({"mx1/ip1": START + _dt.timedelta(days=3)}, START) == {"mx1/ip1": START}
    starts = store.register_ips({"mx1/ip1": later, "mx1/ip2": later}, START)
    assert starts == {"mx1/ip1": START, "mx1/ip2": later}
