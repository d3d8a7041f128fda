"""The ramp over eight weeks, with literal numbers: per IP, per mailbox, before the start and with held days."""

from __future__ import annotations

import datetime as _dt

from coldmail.warmup.schedule import ramp_between, ramp_day, ramp_on, sending_ips

from .conftest import START, settings

D = _dt.timedelta


def _ip(cfg, label):
    return next(ip for ip in sending_ips(cfg) if ip.label == label)


def test_eight_weeks_of_the_default_plan_per_ip_and_per_mailbox():
    cfg = settings()  # 20 a day per IP, doubling every 7 days, at most 300 per IP and 40 per mailbox
    alpha = ramp_between(cfg, _ip(cfg, "mx1/ip1"), START, START, 56)   # 3 mailboxes share the IP
    beta = ramp_between(cfg, _ip(cfg, "mx1/ip2"), START, START, 56)    # 1 mailbox
    assert [d.ip_cap for d in alpha] == [20] * 7 + [40] * 7 + [80] * 7 + [160] * 7 + [300] * 28
    assert [d.mailbox_cap for d in alpha] == [6] * 7 + [13] * 7 + [26] * 7 + [40] * 35
    assert [d.mailbox_cap for d in beta] == [20] * 7 + [40] * 49
    assert [d.step for d in alpha[::7]] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert [d.date for d in alpha[::7]] == [_dt.date(2026, 3, 2), _dt.date(2026, 3, 9), _dt.date(2026, 3, 16),
                                            _dt.date(2026, 3, 23), _dt.date(2026, 3, 30), _dt.date(2026, 4, 6),
                                            _dt.date(2026, 4, 13), _dt.date(2026, 4, 20)]
    assert alpha[-1].date == _dt.date(2026, 4, 26) and alpha[-1].ramp == 55


def test_a_slower_plan_rounds_each_step_and_stops_at_the_ip_cap():
    cfg = settings(startPerIpPerDay=10, growthFactor=1.5, maxPerIpPerDay=200, maxPerMailboxPerDay=25)
    weekly = [d.ip_cap for d in ramp_between(cfg, _ip(cfg, "mx1/ip1"), START, START, 63)[::7]]
    assert weekly == [10, 15, 22, 34, 51, 76, 114, 171, 200]
    per_mailbox = [d.mailbox_cap for d in ramp_between(cfg, _ip(cfg, "mx1/ip1"), START, START, 63)[::7]]
    assert per_mailbox == [3, 5, 7, 11, 17, 25, 25, 25, 25]


def test_before_the_start_date_the_worker_sends_nothing_but_the_server_limit_is_the_first_step():
    cfg = settings()
    before = ramp_on(cfg, _ip(cfg, "mx1/ip1"), START, START - D(days=1))
    assert (before.ramp, before.worker_ip_cap, before.worker_mailbox_cap) == (None, 0, 0)
    assert (before.ip_cap, before.mailbox_cap) == (20, 6)
    first = ramp_on(cfg, _ip(cfg, "mx1/ip1"), START, START)
    assert (first.ramp, first.worker_ip_cap, first.worker_mailbox_cap) == (0, 20, 6)


def test_held_days_keep_the_last_cap_and_shift_the_rest_of_the_ramp():
    cfg = settings()
    held = {START + D(days=6), START + D(days=7), START + D(days=8)}  # Sun 8th .. Tue 10th March
    days = ramp_between(cfg, _ip(cfg, "mx1/ip1"), START, START, 16, held)
    assert [d.ramp for d in days] == [0, 1, 2, 3, 4, 5, 5, 5, 5, 6, 7, 8, 9, 10, 11, 12]
    assert [d.ip_cap for d in days] == [20] * 10 + [40] * 6
    assert [d.held for d in days] == [False] * 6 + [True] * 3 + [False] * 7
    # Without the hold the first growth is on the 9th; three held days move it to the 12th.
    assert next(d.date for d in days if d.ip_cap == 40) == _dt.date(2026, 3, 12)


def test_a_hold_on_the_day_of_a_step_keeps_the_ramp_from_growing_that_day():
    cfg = settings()
    held = {START + D(days=7)}
    days = ramp_between(cfg, _ip(cfg, "mx1/ip1"), START, START + D(days=6), 3, held)
    assert [(d.date.day, d.ramp, d.ip_cap, d.mailbox_cap) for d in days] == [(8, 6, 20, 6), (9, 6, 20, 6),
                                                                           (10, 7, 40, 13)]


def test_ramp_day_counts_healthy_days_only():
    assert ramp_day(START, START) == 0
    assert ramp_day(START, START - D(days=3)) is None
    assert ramp_day(START, START + D(days=10), {START + D(days=2)}) == 9
    assert ramp_day(START, START, {START}) == 0
    assert ramp_day(START, START + D(days=1), {START}) == 0


def test_only_ips_that_carry_a_domain_have_a_ramp():
    cfg = settings()
    assert [ip.label for ip in sending_ips(cfg)] == ["mx1/ip1", "mx1/ip2", "mx2/ip1"]
