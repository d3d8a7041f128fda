"""When a domain's DMARC policy may move on: ``none`` → ``quarantine`` → ``reject``, from report evidence.

Enforcing too early sends the domain's own mail to spam (quarantine) or bounces it (reject) wherever a
source fails alignment. The evidence is what receivers reported while the current policy was published
(each aggregate report carries the ``p=`` it saw), over the last :data:`PHASE_EVIDENCE_DAYS` days.
The thresholds are documented in docs/reports.md; change them there and here together.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Optional

from coldmail.model.sections import DMARC_PHASES

from .sources import UNKNOWN, SourceSet
from .store import ReportStore

#: Days the current policy must have been seen in reports before the next phase.
PHASE_EVIDENCE_DAYS = 30
#: Share of reported messages that must pass DMARC aligned (SPF or DKIM aligned with ``From:``) over those days.
PHASE_MIN_ALIGNED_PASS = 0.98
#: Reported messages needed over those days, so that the pass share means something.
PHASE_MIN_MESSAGES = 100
#: Sources outside the stack and ``reports.knownSources`` whose mail failed DMARC that may remain.
PHASE_MAX_UNKNOWN_FAILING_SOURCES = 0

THRESHOLDS = {"evidence_days": PHASE_EVIDENCE_DAYS, "min_aligned_pass": PHASE_MIN_ALIGNED_PASS,
              "min_messages": PHASE_MIN_MESSAGES, "max_unknown_failing_sources": PHASE_MAX_UNKNOWN_FAILING_SOURCES}


def next_phase(phase: str) -> Optional[str]:
    """The phase after ``phase``; None after ``reject``."""
    i = DMARC_PHASES.index(phase)
    return DMARC_PHASES[i + 1] if i + 1 < len(DMARC_PHASES) else None


def _days(seconds: float) -> float:
    # Daily reports end at 23:59:59 or at the next midnight; a tenth of a day absorbs the difference.
    return round(seconds / 86400, 1)


@dataclass
class Readiness:
    """Whether ``domain`` may move from ``phase`` to ``next_phase``, with the numbers behind the answer."""

    domain: str
    phase: str
    next_phase: Optional[str]
    ready: bool
    days_at_phase: float
    messages: int
    aligned_pass_rate: Optional[float]
    unknown_failing_sources: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    window_start: Optional[_dt.datetime] = None
    window_end: Optional[_dt.datetime] = None

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "phase": self.phase, "next_phase": self.next_phase, "ready": self.ready,
                "days_at_phase": self.days_at_phase, "messages": self.messages,
                "aligned_pass_rate": None if self.aligned_pass_rate is None else round(self.aligned_pass_rate, 4),
                "unknown_failing_sources": [dict(s) for s in self.unknown_failing_sources],
                "reasons": list(self.reasons),
                "window_start": self.window_start.isoformat() if self.window_start else None,
                "window_end": self.window_end.isoformat() if self.window_end else None}

    def line(self) -> str:
        """One sentence for people: ready, or why not."""
        if self.next_phase is None:
            return f"{self.domain}: at p=reject, the last phase"
        if self.ready:
            return (f"{self.domain}: ready for p={self.next_phase} ({self.days_at_phase:g} days at p={self.phase}, "
                    f"{self.messages} messages, {self.aligned_pass_rate:.2%} aligned pass, no unknown sources failing)")
        return f"{self.domain}: stays at p={self.phase}: " + "; ".join(self.reasons)


def readiness(store: ReportStore, domain: str, phase: str, sources: SourceSet, now: _dt.datetime) -> Readiness:
    """The evidence for moving ``domain`` (punycode) on from ``phase``, judged at ``now``."""
    nxt = next_phase(phase)
    window_start = now - _dt.timedelta(days=PHASE_EVIDENCE_DAYS)
    # The run of reports at this policy that ends with the latest report: a report that saw another
    # policy (before the change, or a receiver's stale cache after it) starts the count again.
    run_start: Optional[_dt.datetime] = None
    run_end: Optional[_dt.datetime] = None
    for r in store.reports(domain=domain):
        if r.policy != phase:
            run_start = run_end = None
            continue
        run_start = run_start or r.begin
        run_end = max(run_end, r.end) if run_end else r.end
    days = _days((run_end - run_start).total_seconds()) if run_start and run_end else 0.0
    rows = [r for r in store.rows(since=window_start, domain=domain, policy=phase)
            if run_start is not None and r.begin >= run_start]
    messages = sum(r.count for r in rows)
    passed = sum(r.count for r in rows if r.dmarc_pass)
    rate = passed / messages if messages else None
    failing: dict[str, int] = {}
    for r in rows:
        if not r.dmarc_pass and sources.classify(r.source_ip)[0] == UNKNOWN:
            failing[r.source_ip] = failing.get(r.source_ip, 0) + r.count
    unknown = [{"ip": ip, "failed_messages": n} for ip, n in sorted(failing.items(), key=lambda kv: (-kv[1], kv[0]))]

    reasons: list[str] = []
    if nxt is None:
        reasons.append("p=reject is the last phase")
    else:
        if days < PHASE_EVIDENCE_DAYS:
            reasons.append(f"{days:g} day{'' if days == 1 else 's'} of reports at p={phase}, {PHASE_EVIDENCE_DAYS} needed")
        if messages < PHASE_MIN_MESSAGES:
            reasons.append(f"{messages} messages reported at p={phase} in the last {PHASE_EVIDENCE_DAYS} days, "
                           f"{PHASE_MIN_MESSAGES} needed")
        if rate is not None and rate < PHASE_MIN_ALIGNED_PASS:
            reasons.append(f"{rate:.2%} of them passed DMARC aligned, {PHASE_MIN_ALIGNED_PASS:.0%} needed")
        if len(unknown) > PHASE_MAX_UNKNOWN_FAILING_SOURCES:
            listed = ", ".join(f"{u['ip']} ({u['failed_messages']} failed)" for u in unknown[:5])
            reasons.append(f"{len(unknown)} source(s) outside the stack failed DMARC: {listed}; a spoofer, or a "
                           "tool sending around the stack (if it is yours, list it in coldmail:reports.knownSources)")
    return Readiness(domain, phase, nxt, not reasons, days, messages, rate, unknown, reasons, window_start, now)
