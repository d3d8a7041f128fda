"""When the ramp holds: the health the other capabilities recorded in the history, read by name.

A sending IP's ramp holds while any of its subjects (the IP's address, its PTR name, its server, the
domains sending from it and their mailboxes) has:

- a listing: a ``blacklist.*`` check failing;
- DNS drift: a ``dns.*`` check failing;
- a bounce rate over :data:`~coldmail.ops.signals.MAX_BOUNCE_RATE` (``hygiene.bounce_rate``);
- a complaint (``hygiene.complaints`` above 0);
- a failing Google Postmaster signal (``postmaster.*``).

The checks, hygiene and Postmaster readers write these; warmup never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Iterable, Optional

from coldmail.model.types import SendingIp, StackConfig
from coldmail.ops import signals
from coldmail.ops.history import FAIL, History, State

from .schedule import domains_on


@dataclass(frozen=True)
class Hold:
    """Why an IP's ramp holds today; no reasons means it may grow."""

    reasons: tuple[str, ...] = ()

    @property
    def held(self) -> bool:
        return bool(self.reasons)


def ip_subjects(settings: StackConfig, ip: SendingIp, address: Optional[str]) -> set[str]:
    """Every history subject whose health holds ``ip``'s ramp."""
    subjects = {signals.server_subject(ip.server), signals.domain_subject(ip.ptr_name)}
    if address:
        subjects.add(signals.ip_subject(address))
    for d in domains_on(settings, ip):
        subjects.add(signals.domain_subject(d.name))
        subjects.update(signals.mailbox_subject(m.address) for m in d.mailboxes)
    return subjects


def _reason(state: State) -> Optional[str]:
    o = state.observation
    fam = signals.family(o.check)
    where = f"{o.check} on {o.subject} since {state.since.date().isoformat()}"
    if o.check == signals.HYGIENE_BOUNCE_RATE:
        if o.value is not None and o.value > signals.MAX_BOUNCE_RATE:
            return f"bounce rate {o.value:.1%} over {signals.MAX_BOUNCE_RATE:.0%} ({where})"
        return f"bounce rate failing: {o.summary} ({where})" if o.status == FAIL else None
    if o.check == signals.HYGIENE_COMPLAINTS:
        if o.value is not None and o.value > 0:
            return f"{o.value:g} complaint(s) ({where})"
        return f"complaints failing: {o.summary} ({where})" if o.status == FAIL else None
    if o.status != FAIL:
        return None
    label = {signals.BLACKLIST: "listed", signals.DNS: "DNS drift", signals.POSTMASTER: "Postmaster"}.get(fam)
    return f"{label}: {o.summary} ({where})" if label else None


def hold_from(states: Iterable[State], subjects: Collection[str]) -> Hold:
    """The hold that ``states`` (current history states) put on a ramp whose subjects are ``subjects``."""
    reasons = []
    for state in states:
        if state.observation.subject in subjects and signals.family(state.observation.check) in signals.HOLD_FAMILIES:
            why = _reason(state)
            if why:
                reasons.append(why)
    return Hold(tuple(sorted(reasons)))


def health_states(history: History) -> list[State]:
    """The current state of every check that can hold a ramp, read once per run."""
    return [s for fam in signals.HOLD_FAMILIES for s in history.current(check_prefix=fam + ".")]
