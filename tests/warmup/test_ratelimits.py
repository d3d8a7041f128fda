"""Each mailbox's Mailcow rate limit follows the ramp: read, compare, act, with exact requests (emulator)."""

from __future__ import annotations

import datetime as _dt

import pytest

from coldmail.warmup.store import WarmupStore
from coldmail.warmup.worker import Worker
from dynamic_providers.client import MailcowClient, RateLimit
from tests.support.mailcow_emulator import MailcowEmulator

from .conftest import Clock, settings

ALPHA = ["anna@alpha-example.com", "jonas@alpha-example.com", "mia@alpha-example.com"]
LENA = "lena@beta-example.com"


@pytest.fixture
def mc():
    with MailcowEmulator() as emulator:
        for address in [*ALPHA, LENA]:
            emulator.seed_mailbox(address)
        yield emulator


@pytest.fixture
def worker(mc, history):
    clock = Clock()
    client = MailcowClient(mc.url, mc.api_key, backoff=0)
    w = Worker(settings(), [], WarmupStore(history, clock), mailcow={"mx1": client}, clock=clock)
    w.test_clock = clock
    return w


def _requests(mc):
    return [(c.method, c.path, c.body) for c in mc.calls]


def _edit(items, value):
    return ("POST", "edit/rl-mbox", {"items": items, "attr": {"rl_value": value, "rl_frame": "d"}})


READ = ("GET", "get/rl-mbox/all", None)


def test_first_run_sets_every_mailbox_to_its_cap_in_one_write_per_cap(mc, worker):
    report = worker.tick()
    assert _requests(mc) == [READ, _edit(ALPHA, 6), _edit([LENA], 20)]
    assert mc.ratelimits == {**dict.fromkeys(ALPHA, "6 / 1d"), LENA: "20 / 1d"}
    assert report.rate_limits == [{"server": "mx1", "checked": 4, "error": None, "changed": [
        {"mailbox": a, "from": None, "to": "6/d"} for a in ALPHA] + [{"mailbox": LENA, "from": None, "to": "20/d"}]}]


def test_an_unchanged_day_costs_one_read_and_a_new_step_one_write_per_cap(mc, worker):
    worker.tick()
    mc.reset_counters()
    worker.tick()
    assert _requests(mc) == [READ]
    mc.reset_counters()
    worker.test_clock.next_day(7)
    worker.tick()
    assert _requests(mc) == [READ, _edit(ALPHA, 13), _edit([LENA], 40)]


def test_a_limit_changed_by_hand_is_put_back_and_only_that_one(mc, worker):
    worker.tick()
    mc.ratelimits["jonas@alpha-example.com"] = "500 / 1h"
    del mc.ratelimits[LENA]
    mc.reset_counters()
    report = worker.tick()
    assert _requests(mc) == [READ, _edit(["jonas@alpha-example.com"], 6), _edit([LENA], 20)]
    assert report.rate_limits[0]["changed"] == [{"mailbox": "jonas@alpha-example.com", "from": "500/h", "to": "6/d"},
                                                {"mailbox": LENA, "from": None, "to": "20/d"}]


def test_before_the_start_date_the_limit_is_the_first_step_never_zero(mc, history):
    clock = Clock(_dt.date(2026, 2, 20))
    w = Worker(settings(), [], WarmupStore(history, clock), clock=clock,
               mailcow={"mx1": MailcowClient(mc.url, mc.api_key, backoff=0)})
    w.tick()
    assert mc.ratelimits == {**dict.fromkeys(ALPHA, "6 / 1d"), LENA: "20 / 1d"}


def test_mailcow_refusing_is_reported_and_the_tick_goes_on(mc, worker):
    mc.inject("500", match="edit/rl-mbox", times=None)
    report = worker.tick()
    assert report.rate_limits[0]["changed"] == []
    assert report.errors[0].startswith("rate limits on mx1: POST edit/rl-mbox (")
    assert "answered HTTP 500 after it was sent" in report.errors[0]


def test_client_reads_one_mailbox_limit(mc):
    client = MailcowClient(mc.url, mc.api_key, backoff=0)
    assert client.get_mailbox_rate_limit(LENA) is None
    client.set_mailbox_rate_limits([LENA], 12, "h")
    assert client.get_mailbox_rate_limit(LENA) == RateLimit(12, "h")
    assert client.list_mailbox_rate_limits() == {LENA: RateLimit(12, "h")}
