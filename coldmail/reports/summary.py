"""Per-domain summary of the stored reports, and what of it goes into the shared history.

For each domain: the messages receivers reported, how many passed SPF, DKIM and DMARC *aligned* (the
alignment DMARC judges, not the raw SPF/DKIM result), every sending source with the unknown ones
flagged, TLS-RPT sessions with failures by type, failure reports, and whether the DMARC policy may move
to its next phase.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from coldmail.model import StackConfig
from coldmail.ops import signals
from coldmail.ops.history import INFO, OK, WARN, Observation

from .parse import domain_name
from .phases import PHASE_MIN_ALIGNED_PASS, Readiness, readiness
from .sources import UNKNOWN, SourceSet
from .store import ReportStore, domains_in

SOURCE = "reports"


def _rate(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


@dataclass
class SourceStats:
    ip: str
    kind: str
    label: Optional[str]
    name: Optional[str]
    country: Optional[str]
    messages: int = 0
    dmarc_pass: int = 0
    spf_aligned: int = 0
    dkim_aligned: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"ip": self.ip, "kind": self.kind, "label": self.label, "name": self.name, "country": self.country,
                "messages": self.messages, "dmarc_pass": self.dmarc_pass, "spf_aligned": self.spf_aligned,
                "dkim_aligned": self.dkim_aligned}


@dataclass
class DomainSummary:
    domain: str
    in_stack: bool
    dmarc_phase: Optional[str]
    reports: int = 0
    reporters: list[str] = field(default_factory=list)
    messages: int = 0
    spf_aligned: int = 0
    dkim_aligned: int = 0
    dmarc_pass: int = 0
    sources: list[SourceStats] = field(default_factory=list)
    tls_successful: int = 0
    tls_failed: int = 0
    tls_failures: dict[str, int] = field(default_factory=dict)
    failure_reports: int = 0
    readiness: Optional[Readiness] = None

    @property
    def unknown_sources(self) -> list[SourceStats]:
        return [s for s in self.sources if s.kind == UNKNOWN]

    @property
    def dmarc_pass_rate(self) -> Optional[float]:
        return _rate(self.dmarc_pass, self.messages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain, "in_stack": self.in_stack, "dmarc_phase": self.dmarc_phase,
            "reports": self.reports, "reporters": list(self.reporters), "messages": self.messages,
            "spf_aligned_rate": _rate(self.spf_aligned, self.messages),
            "dkim_aligned_rate": _rate(self.dkim_aligned, self.messages),
            "dmarc_pass_rate": self.dmarc_pass_rate,
            "sources": [s.to_dict() for s in self.sources],
            "unknown_sources": [s.ip for s in self.unknown_sources],
            "tls": {"successful_sessions": self.tls_successful, "failed_sessions": self.tls_failed,
                    "failures_by_type": dict(self.tls_failures)},
            "failure_reports": self.failure_reports,
            "next_phase": self.readiness.to_dict() if self.readiness else None,
        }


def summarise(store: ReportStore, sources: SourceSet, *, since: _dt.datetime, now: _dt.datetime,
              stack: Optional[StackConfig] = None, domain: Optional[str] = None) -> list[DomainSummary]:
    """One summary per domain (the stack's, then any other a report in the window is about), sorted by name.

    :param since: reports whose interval starts before this are left out (the phase evidence has its own window).
    :param domain: only this domain (any spelling: unicode or punycode).
    """
    phases = {d.name: d.dmarc_phase for d in stack.domains} if stack else {}
    names = sorted(set(phases) | set(domains_in(store, since)))
    if domain is not None:
        names = [domain_name(domain)]
    out = []
    for name in names:
        s = DomainSummary(name, name in phases, phases.get(name))
        reports = store.reports(domain=name, since=since)
        s.reports = len(reports)
        s.reporters = sorted({r.org for r in reports})
        by_ip: dict[str, SourceStats] = {}
        for row in store.rows(since=since, domain=name):
            src = by_ip.get(row.source_ip)
            if src is None:
                kind, label = sources.classify(row.source_ip)
                src = by_ip[row.source_ip] = SourceStats(row.source_ip, kind, label, row.source_name, row.country)
            for target in (s, src):
                target.messages += row.count
                target.dmarc_pass += row.count if row.dmarc_pass else 0
                target.spf_aligned += row.count if row.spf_aligned else 0
                target.dkim_aligned += row.count if row.dkim_aligned else 0
        s.sources = sorted(by_ip.values(), key=lambda x: (-x.messages, x.ip))
        for t in store.tls(since=since, domain=name):
            s.tls_successful += t.successful
            s.tls_failed += t.failed
            for f in t.failures:
                s.tls_failures[f["result_type"]] = s.tls_failures.get(f["result_type"], 0) + int(f["sessions"])
        s.tls_failures = dict(sorted(s.tls_failures.items(), key=lambda kv: (-kv[1], kv[0])))
        s.failure_reports = len(store.failures(since=since, domain=name))
        if s.dmarc_phase is not None:
            s.readiness = readiness(store, name, s.dmarc_phase, sources, now)
        out.append(s)
    return out


def observations(summaries: Iterable[DomainSummary]) -> list[Observation]:
    """What the summary tells the other capabilities and the alerts, per stack domain (docs/reports.md)."""
    out: list[Observation] = []
    for s in summaries:
        if not s.in_stack:
            continue
        subject = signals.domain_subject(s.domain)
        rate = s.dmarc_pass_rate
        if rate is None:
            out.append(Observation(signals.REPORTS_DMARC_PASS, subject, INFO, "no aggregate reports in the window",
                                   SOURCE, None, {"messages": 0}))
        else:
            out.append(Observation(signals.REPORTS_DMARC_PASS, subject, OK if rate >= PHASE_MIN_ALIGNED_PASS else WARN,
                                   f"{rate:.2%} of {s.messages} reported messages passed DMARC aligned", SOURCE,
                                   rate, {"messages": s.messages, "dmarc_pass": s.dmarc_pass}))
        unknown = s.unknown_sources
        out.append(Observation(
            signals.REPORTS_UNKNOWN_SOURCES, subject, WARN if unknown else OK,
            (f"{len(unknown)} source(s) outside the stack sent as {s.domain}: "
             + ", ".join(f"{u.ip} ({u.messages})" for u in unknown[:5])) if unknown else "every source is the stack's",
            SOURCE, float(len(unknown)), {"sources": [u.to_dict() for u in unknown]}))
        out.append(Observation(
            signals.REPORTS_TLS_FAILURES, subject, WARN if s.tls_failed else OK,
            f"{s.tls_failed} failed TLS sessions to {s.domain}" + (
                ": " + ", ".join(f"{k} {v}" for k, v in s.tls_failures.items()) if s.tls_failures else ""),
            SOURCE, float(s.tls_failed), {"successful": s.tls_successful, "failures_by_type": dict(s.tls_failures)}))
        if s.readiness is not None:
            out.append(Observation(signals.REPORTS_PHASE_READY, subject, INFO, s.readiness.line(), SOURCE,
                                   1.0 if s.readiness.ready else 0.0, s.readiness.to_dict()))
    return out
