"""One check run: collect the observations of the chosen kinds, record them, alert on change, propose.

The CLI (``coldmail check``) and the on-server agent both call :func:`run`; neither knows how a check
works. Every run appends to the shared history; alerts go through the shared notifier, and only for
what changed since the previous run: a new listing, a delisting, record drift, a closed port, and each
certificate-expiry band (30, 7, 1 days) crossed. Listed IPs come with the proposed moves.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from coldmail.errors import UsageError
from coldmail.ops.history import SEVERITY, STATUSES, Change, History, Observation, worst
from coldmail.ops.notify import Delivery, Notifier
from coldmail.ops.signals import family

from . import auth, blacklist, postmaster, records, smtp
from .context import CheckContext
from .remedy import Proposal, propose

#: Each kind and the function collecting its observations; ``all`` runs the first four.
COLLECTORS: dict[str, Callable[[CheckContext], list[Observation]]] = {
    "dns": records.check_records,
    "auth": auth.check_auth,
    "blacklist": blacklist.check_blacklists,
    "smtp": smtp.check_smtp,
    "postmaster": postmaster.check_postmaster,
}
KINDS = tuple(COLLECTORS)
ALL = ("dns", "auth", "blacklist", "smtp")


def resolve_kinds(kinds: Sequence[str], ctx: Optional[CheckContext] = None) -> tuple[str, ...]:
    """``all`` expanded (with ``postmaster`` when it is configured), duplicates dropped, order kept.

    :raises UsageError: an unknown kind.
    """
    out: list[str] = []
    for k in kinds or ("all",):
        if k == "all":
            extra = ("postmaster",) if ctx is not None and ctx.stack.checks.postmaster else ()
            out += [*ALL, *extra]
        elif k in COLLECTORS:
            out.append(k)
        else:
            raise UsageError(f"unknown check kind {k!r}", f"use one of: {', '.join(KINDS)}, all")
    return tuple(dict.fromkeys(out))


@dataclass
class RunReport:
    stack: str
    kinds: tuple[str, ...]
    at: _dt.datetime
    observations: list[Observation]
    changes: list[Change] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    delivery: Optional[Delivery] = None

    @property
    def status(self) -> str:
        return worst(self.observations)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for o in self.observations:
            out[o.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack, "kinds": list(self.kinds), "at": self.at.isoformat(), "status": self.status,
            "counts": self.counts(),
            "observations": [o.to_dict() for o in sorted(self.observations, key=_order)],
            "changes": [c.to_dict() for c in self.changes],
            "proposals": [p.to_dict() for p in self.proposals],
            "alert": None if self.delivery is None else {"sent": self.delivery.ok, "attempts": self.delivery.attempts,
                                                         "targets": self.delivery.targets},
        }


def _order(o: Observation) -> tuple:
    return (-SEVERITY[o.status], family(o.check), o.subject, o.check)


def collect(ctx: CheckContext, kinds: Sequence[str]) -> list[Observation]:
    out: list[Observation] = []
    for kind in resolve_kinds(kinds, ctx):
        out += COLLECTORS[kind](ctx)
    return out


def band_changes(before: dict[tuple[str, str], Any], observations: Sequence[Observation],
                 recorded: Sequence[Change]) -> list[Change]:
    """Changes of ``data["band"]`` (certificate expiry at 30/7/1 days) under an unchanged status."""
    seen = {c.observation.key for c in recorded}
    out = []
    for o in observations:
        band = o.data.get("band")
        prev = before.get(o.key)
        if band is None or prev is None or o.key in seen:
            continue
        if prev.observation.data.get("band") != band:
            out.append(Change(o, prev.observation.status))
    return out


def run(ctx: CheckContext, kinds: Sequence[str], *, history: Optional[History] = None,
        notifier: Optional[Notifier] = None) -> RunReport:
    """Run the checks, record them, notify the changes; the report carries everything, changes included."""
    chosen = resolve_kinds(kinds, ctx)
    at = ctx.now()
    observations = [o if o.at else dataclasses.replace(o, at=at) for o in collect(ctx, chosen)]
    report = RunReport(ctx.stack_name, chosen, at, observations)
    current = history.current() if history is not None else []
    # Without a blacklist run now, the proposals come from the history's current blacklist states.
    listings = observations if "blacklist" in chosen else [s.observation for s in current]
    report.proposals = propose(ctx.stack_name, ctx.targets, listings)
    if history is None:
        return report
    before = {s.observation.key: s for s in current}
    changes = history.record(observations, at=at)
    report.changes = changes + band_changes(before, observations, changes)
    if notifier is not None and report.changes:
        new_listings = {c.observation.subject for c in report.changes if family(c.observation.check) == "blacklist"}
        footer = [line for p in report.proposals if p.ip.subject in new_listings for line in p.lines()]
        report.delivery = notifier.changes(report.changes, stack=ctx.stack_name, footer=footer)
    return report

