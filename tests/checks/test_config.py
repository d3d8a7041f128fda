"""``coldmail:checks`` through the one schema: defaults, every error at once with its path, secrets."""

from __future__ import annotations

import datetime as dt

import pytest

from coldmail import model as cm
from coldmail.model.monitoring import parse_duration, parse_nameserver
from tests.checks.conftest import stack_raw


def issues(checks) -> dict[str, str]:
    return {i.path: i.message for i in cm.validate(stack_raw(checks=checks))}


def test_a_stack_without_the_section_gets_the_documented_defaults():
    raw = stack_raw()
    del raw["checks"]
    c = cm.load(raw).checks
    assert (c.resolver, c.concurrency, c.timeout, c.outbound_probe, c.agent, c.postmaster) == (
        (), 32, 5.0, ("gmail-smtp-in.l.google.com", 25), True, None)
    assert c.schedule == () and c.interval("checks.hourly", dt.timedelta(hours=1)) == dt.timedelta(hours=1)


def test_every_bad_value_is_reported_at_once_with_its_path():
    got = issues({"resolver": ["10.0.0.2:53", "unbound"], "spamhausDqsKey": "short",
                  "notifyUrls": ["slack://T/B/X", "not a url"], "schedule": {"checks.hourly": "hourly"},
                  "metrics": {"textfile": "/var/lib/node/coldmail.txt"}, "concurency": 3,
                  "postmaster": {"clientId": "x.apps.googleusercontent.com"}})
    assert set(got) == {
        "coldmail:checks.resolver[1]", "coldmail:checks.spamhausDqsKey", "coldmail:checks.notifyUrls[1]",
        "coldmail:checks.schedule.checks.hourly", "coldmail:checks.metrics.textfile", "coldmail:checks.concurency",
        "coldmail:checks.postmaster.clientSecret", "coldmail:checks.postmaster.refreshToken"}
    assert got["coldmail:checks.concurency"] == "unknown key"


def test_secrets_may_be_encrypted_and_are_then_set_but_unknown():
    c = cm.load(stack_raw(checks={"spamhausDqsKey": {"secure": "v1:AAAA"}, "notifyUrls": {"secure": "v1:BBBB"},
                                  "postmaster": {"clientId": "x", "clientSecret": {"secure": "v1:CCCC"},
                                                 "refreshToken": {"secure": "v1:DDDD"}}})).checks
    assert (c.dqs_key, c.dqs_key_is_set, c.notify_urls, c.notify_urls_are_set) == (None, True, (), True)
    assert (c.postmaster.client_secret, c.postmaster.refresh_token) == (None, None)


def test_a_clear_dqs_key_and_urls_are_kept_and_never_shown_in_repr():
    key = "abcdefghijklmnopqrstuvwxyz"
    c = cm.load(stack_raw(checks={"spamhausDqsKey": key, "notifyUrls": ["json://127.0.0.1:9/x"],
                                  "schedule": {"warmup.ramp": "30m"}})).checks
    assert c.dqs_key == key and c.notify_urls == ("json://127.0.0.1:9/x",)
    assert key not in repr(c) and "127.0.0.1:9" not in repr(c)
    assert c.interval("warmup.ramp", dt.timedelta(days=1)) == dt.timedelta(minutes=30)


@pytest.mark.parametrize("text, expected", [("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
                                            ("[::1]:5353", ("::1", 5353)), ("::1", ("::1", 53))])
def test_nameservers_parse_with_an_optional_port(text, expected):
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["ns1.example.com", "127.0.0.1:dns", "127.0.0.1:0"])
def test_nameservers_that_are_not_addresses_are_refused(text):
    with pytest.raises(ValueError):
        parse_nameserver(text)


def test_durations():
    assert [parse_duration(t) for t in ("30m", "1h", "24h", "7d", "1w")] == [
        dt.timedelta(minutes=30), dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=7),
        dt.timedelta(weeks=1)]
    with pytest.raises(ValueError):
        parse_duration("0h")
