"""Alerts fire only on change, over a sequence of runs, into an apprise JSON webhook on loopback; the
history summary and the Prometheus metrics read back what the runs recorded."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from coldmail.checks import runner
from coldmail.checks.metrics import Served, write_textfile
from coldmail.checks.summary import summarise
from coldmail.ops.history import History, utcnow
from coldmail.ops.notify import Notifier
from tests.checks.certs import TestCA
from tests.checks.conftest import NOW, make_ctx, no_sleep, outputs_for
from tests.checks.mailservers import MailEndpoints

LISTED = "11.113.0.203.zen.spamhaus.org"


def test_alerts_fire_on_a_listing_its_delisting_and_drift_never_on_a_repeat(live_zone, stack, mailcow, tmp_path, hook):
    history = History(str(tmp_path / "history.sqlite"))
    notifier = Notifier([hook.url], sleep=no_sleep)
    clock = [NOW]

    def run():
        ctx = make_ctx(live_zone, stack, mailcow, now=lambda: clock[0])
        clock[0] += dt.timedelta(hours=1)
        return runner.run(ctx, ["dns", "blacklist"], history=history, notifier=notifier)

    first = run()
    assert (first.changes, hook.posts) == ([], [])          # a healthy new stack raises nothing

    live_zone.add(LISTED, "A", "127.0.0.2")
    listed = run()
    assert [(c.observation.check, c.observation.subject, c.previous, c.observation.status)
            for c in listed.changes] == [("blacklist.zen", "ip:203.0.113.11", "ok", "fail")]
    [post] = hook.posts
    assert post["title"] == "coldmail prod: 1 checks change(s)" and post["type"] == "failure"
    assert post["message"] == (
        "ip:203.0.113.11: blacklist.zen ok → fail — listed on Spamhaus ZEN: SBL: a known spam source\n"
        "\n"
        "203.0.113.11 (mx1/ip1) is listed on Spamhaus ZEN; proposed:\n"
        "  coldmail domain move acme-alpha.com --ip 3 --stack prod\n"
        "  coldmail domain move acme-beta.io --ip 0 --stack prod")

    assert run().changes == [] and len(hook.posts) == 1     # still listed: no second alert

    live_zone.remove(LISTED)
    delisted = run()
    assert [(c.previous, c.observation.status) for c in delisted.changes] == [("fail", "ok")]
    assert len(hook.posts) == 2 and hook.posts[1]["message"].startswith("ip:203.0.113.11: blacklist.zen fail → ok")

    live_zone.set("_dmarc.acme-gamma.co", "TXT", "v=DMARC1; p=none")
    drift = run()
    assert [(c.observation.check, c.observation.subject) for c in drift.changes] == [("dns.dmarc", "domain:acme-gamma.co")]
    assert len(hook.posts) == 3

    summary = summarise(history, since=NOW - dt.timedelta(days=7), now=clock[0])
    assert summary["runs"] == 5
    assert [(c["check"], c["subject"], c["from"], c["to"]) for c in summary["changes"]] == [
        ("blacklist.zen", "ip:203.0.113.11", "ok", "fail"),
        ("blacklist.zen", "ip:203.0.113.11", "fail", "ok"),
        ("dns.dmarc", "domain:acme-gamma.co", "ok", "fail"),
    ]
    assert [(p["check"], p["subject"], p["status"]) for p in summary["problems"]] == [
        ("dns.dmarc", "domain:acme-gamma.co", "fail")]


def test_certificate_expiry_alerts_once_per_band_at_30_7_and_1_days(zone, stack, tmp_path, hook):
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    ca = TestCA(tmp_path)
    ep = MailEndpoints(*ca.leaf("mx1.ops-test.com", days=40))
    history = History(str(tmp_path / "history.sqlite"))
    notifier = Notifier([hook.url], sleep=no_sleep)
    start = utcnow()
    sent = []
    try:
        for offset_days in (0, 15, 20, 34, 36, 39.6):
            ctx = make_ctx(zone, stack, outputs=outputs_for({0: "127.0.0.1", 1: "127.0.0.11", 2: "127.0.0.12",
                                                             3: "127.0.0.13"}),
                           ports=ep.ports, cafile=ca.cafile, now=lambda o=offset_days: start + dt.timedelta(days=o))
            report = runner.run(ctx, ["smtp"], history=history, notifier=notifier)
            sent.append([(c.observation.check, c.observation.status, c.observation.data.get("band"))
                         for c in report.changes if c.observation.check == "tls.expiry"])
    finally:
        ep.close()
    assert sent == [[], [("tls.expiry", "warn", "30d")], [], [("tls.expiry", "warn", "7d")], [],
                    [("tls.expiry", "fail", "1d")]]


def test_metrics_expose_the_current_states_as_a_textfile_and_over_http(live_zone, stack, mailcow, tmp_path):
    import urllib.request

    history = History(str(tmp_path / "history.sqlite"))
    live_zone.add(LISTED, "A", "127.0.0.2")
    runner.run(make_ctx(live_zone, stack, mailcow), ["blacklist"], history=history)
    path = tmp_path / "coldmail.prom"
    write_textfile(str(path), history.current(), "prod")
    text = path.read_text()
    assert 'coldmail_check_status{check="blacklist.zen",stack="prod",subject="ip:203.0.113.11"} 3.0' in text
    assert 'coldmail_check_status{check="blacklist.zen",stack="prod",subject="ip:203.0.113.12"} 0.0' in text
    served = Served(0, stack="prod")
    try:
        served.update(history.current())
        body = urllib.request.urlopen(f"http://127.0.0.1:{served.port}/metrics", timeout=5).read().decode()
        assert 'coldmail_check_status{check="blacklist.zen",stack="prod",subject="ip:203.0.113.11"} 3.0' in body
    finally:
        served.close()


def test_unknown_kinds_are_refused_and_all_means_the_four_kinds():
    from coldmail.errors import UsageError

    assert runner.resolve_kinds(["all"]) == ("dns", "auth", "blacklist", "smtp")
    assert runner.resolve_kinds(["smtp", "dns", "smtp"]) == ("smtp", "dns")
    with pytest.raises(UsageError, match="unknown check kind 'rbl'"):
        runner.resolve_kinds(["rbl"])
