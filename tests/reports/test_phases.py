"""DMARC phases from evidence: the numbers behind "ready for the next phase", and every reason it is not."""

from __future__ import annotations

import datetime as dt
import os

from coldmail import model
from coldmail.model.stackfile import raw_from_stack_file
from coldmail.ops import signals
from coldmail.reports import SourceSet, observations, readiness, summarise
from coldmail.reports.phases import (PHASE_EVIDENCE_DAYS, PHASE_MAX_UNKNOWN_FAILING_SOURCES, PHASE_MIN_ALIGNED_PASS,
                                     PHASE_MIN_MESSAGES, next_phase)

from tests.reports import messages as m

UTC = dt.timezone.utc
TODAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
DOMAIN = "acme-growth.com"
SOURCES = SourceSet(m.STACK_IPS)


def days_back(first: int, last: int = 1) -> list[dt.date]:
    """The dates ``first`` .. ``last`` days before TODAY, oldest first."""
    return [TODAY - dt.timedelta(days=n) for n in range(first, last - 1, -1)]


def google_daily(store, parser, dates, records, p="none", domain=DOMAIN):
    m.stock(store, parser, [m.google_aggregate(domain, f"{domain}-{d.isoformat()}", *m.day(d), records, p=p)
                            for d in dates])


def test_the_thresholds_are_the_documented_ones():
    assert (PHASE_EVIDENCE_DAYS, PHASE_MIN_ALIGNED_PASS, PHASE_MIN_MESSAGES, PHASE_MAX_UNKNOWN_FAILING_SOURCES) == (
        30, 0.98, 100, 0)
    assert [next_phase(p) for p in ("none", "quarantine", "reject")] == ["quarantine", "reject", None]


def test_thirty_clean_days_at_none_make_the_domain_ready_for_quarantine(store, parser):
    google_daily(store, parser, days_back(30), [m.Rec("203.0.113.11", 10)])
    ev = readiness(store, DOMAIN, "none", SOURCES, NOW)
    assert (ev.ready, ev.next_phase, ev.days_at_phase, ev.messages, ev.aligned_pass_rate, ev.reasons) == (
        True, "quarantine", 30.0, 290, 1.0, [])
    assert ev.line() == ("acme-growth.com: ready for p=quarantine (30 days at p=none, 290 messages, 100.00% aligned "
                         "pass, no unknown sources failing)")


def test_twelve_days_are_not_enough(store, parser):
    google_daily(store, parser, days_back(12), [m.Rec("203.0.113.11", 10)])
    ev = readiness(store, DOMAIN, "none", SOURCES, NOW)
    assert (ev.ready, ev.days_at_phase, ev.messages) == (False, 12.0, 120)
    assert ev.reasons == ["12 days of reports at p=none, 30 needed"]


def test_a_pass_rate_under_98_percent_holds_the_phase(store, parser):
    google_daily(store, parser, days_back(30), [m.Rec("203.0.113.11", 48), m.Rec("203.0.113.12", 2, dkim="fail",
                                                                                spf="fail")])
    ev = readiness(store, DOMAIN, "none", SOURCES, NOW)
    assert (ev.ready, ev.messages, ev.aligned_pass_rate) == (False, 1450, 0.96)
    assert ev.reasons == ["96.00% of them passed DMARC aligned, 98% needed"]


def test_too_few_messages_say_nothing(store, parser):
    google_daily(store, parser, days_back(30), [m.Rec("203.0.113.11", 3)])
    ev = readiness(store, DOMAIN, "none", SOURCES, NOW)
    assert ev.reasons == ["87 messages reported at p=none in the last 30 days, 100 needed"]


def test_an_unknown_source_failing_dmarc_holds_the_phase_until_the_config_knows_it(store, parser):
    google_daily(store, parser, days_back(30), [m.Rec("203.0.113.11", 20)])
    m.stock(store, parser, [m.microsoft_aggregate(DOMAIN, "ms-1", m.day(TODAY - dt.timedelta(days=3))[0],
                                                  [m.Rec("198.51.100.66", 4, dkim="fail", spf="fail")])])
    ev = readiness(store, DOMAIN, "none", SOURCES, NOW)
    assert (ev.ready, ev.messages, round(ev.aligned_pass_rate, 4)) == (False, 584, 0.9932)
    assert ev.unknown_failing_sources == [{"ip": "198.51.100.66", "failed_messages": 4}]
    assert ev.reasons == ["1 source(s) outside the stack failed DMARC: 198.51.100.66 (4 failed); a spoofer, or a tool "
                          "sending around the stack (if it is yours, list it in coldmail:reports.knownSources)"]
    known = readiness(store, DOMAIN, "none", SourceSet(m.STACK_IPS, ["198.51.100.64/30"]), NOW)
    assert (known.ready, known.unknown_failing_sources) == (True, [])


def test_an_unknown_source_that_passes_dmarc_does_not_hold_the_phase(store, parser):
    google_daily(store, parser, days_back(30), [m.Rec("203.0.113.11", 20), m.Rec("192.0.2.25", 1, spf="fail")])
    ev = readiness(store, DOMAIN, "none", SOURCES, NOW)
    assert (ev.ready, ev.unknown_failing_sources) == (True, [])


def test_the_days_count_from_the_reports_that_saw_the_current_policy(store, parser):
    google_daily(store, parser, days_back(40, 16), [m.Rec("203.0.113.11", 20)], p="none")
    google_daily(store, parser, days_back(15), [m.Rec("203.0.113.11", 20)], p="quarantine")
    ev = readiness(store, DOMAIN, "quarantine", SOURCES, NOW)
    assert (ev.ready, ev.next_phase, ev.days_at_phase, ev.messages) == (False, "reject", 15.0, 300)
    assert ev.reasons == ["15 days of reports at p=quarantine, 30 needed"]


def test_reject_is_the_last_phase(store, parser):
    google_daily(store, parser, days_back(30), [m.Rec("203.0.113.11", 20)], p="reject")
    ev = readiness(store, DOMAIN, "reject", SOURCES, NOW)
    assert (ev.ready, ev.next_phase, ev.reasons) == (False, None, ["p=reject is the last phase"])
    assert ev.line() == "acme-growth.com: at p=reject, the last phase"


def test_the_summary_goes_into_the_history_and_changes_are_reported_once(store, parser):
    cfg = model.load(raw_from_stack_file(os.path.join(os.path.dirname(__file__), "..", "..", "Pulumi.prod.yaml")))
    google_daily(store, parser, days_back(3), [m.Rec("203.0.113.11", 48), m.Rec("198.51.100.66", 2, dkim="fail",
                                                                               spf="fail")])
    since = NOW - dt.timedelta(days=7)
    first = store.history.record(observations(summarise(store, SOURCES, since=since, now=NOW, stack=cfg)), at=NOW)
    assert sorted((c.observation.check, c.observation.status) for c in first
                  if c.observation.subject == "domain:acme-growth.com") == [
        (signals.REPORTS_DMARC_PASS, "warn"), (signals.REPORTS_UNKNOWN_SOURCES, "warn")]
    again = store.history.record(observations(summarise(store, SOURCES, since=since, now=NOW, stack=cfg)), at=NOW)
    assert again == []
    [state] = store.history.current(check_prefix=signals.REPORTS_DMARC_PASS, subject="domain:acme-growth.com")
    assert (state.observation.value, state.observation.summary) == (
        0.96, "96.00% of 150 reported messages passed DMARC aligned")
    quiet = store.history.current(check_prefix=signals.REPORTS_DMARC_PASS, subject="domain:tryacme.co")
    assert [(s.observation.status, s.observation.summary) for s in quiet] == [
        ("info", "no aggregate reports in the window")]
    [ready] = store.history.current(check_prefix=signals.REPORTS_PHASE_READY, subject="domain:acme-growth.com")
    assert ready.observation.data["days_at_phase"] == 3.0 and ready.observation.value == 0.0


def test_a_unicode_domain_is_summarised_under_its_punycode_name(store, parser):
    # Python's own IDNA codec: "bücher-acme".encode("idna") == b"xn--bcher-acme-9db"
    google_daily(store, parser, days_back(2), [m.Rec("203.0.113.13", 9)], domain="xn--bcher-acme-9db.de")
    yesterday = m.day(TODAY - dt.timedelta(days=1))
    m.stock(store, parser, [m.yahoo_aggregate("bücher-acme.de", "1764460800.1", *yesterday, [m.Rec("203.0.113.13", 5)])])
    [s] = summarise(store, SOURCES, since=NOW - dt.timedelta(days=7), now=NOW, domain="bücher-acme.de")
    assert (s.domain, s.messages, s.reporters) == ("xn--bcher-acme-9db.de", 23, ["google.com", "yahoo"])
