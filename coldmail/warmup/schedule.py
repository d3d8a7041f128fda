"""The ramp: each sending IP's and each mailbox's cap on a given day, as a pure function of dates.

An IP's ramp starts on its start date at ``startPerIpPerDay`` and grows by ``growthFactor`` every
``periodDays`` up to ``maxPerIpPerDay`` (:meth:`WarmupPlan.per_ip_limit`). A mailbox's cap is its share
of its IP's cap, at most ``maxPerMailboxPerDay`` (the plan's own formula, :func:`planned_daily_sends`,
applied to the IP's cap of the day), so the mailboxes of an IP never add up to more than the IP may send.

**Held days.** While health is bad the ramp holds: a held day does not advance the ramp, and its cap is
the cap of the last day that did. The ramp resumes from there on the next healthy day, so every held day
shifts the rest of the ramp one day later. With ``held`` the set of held dates::

    ramp day of a healthy day t = healthy days in [start, t)
    ramp day of a held day t    = ramp day of the last healthy day before t (0 when there is none)
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass
from typing import AbstractSet, Optional

from coldmail.model.sizing import planned_daily_sends
from coldmail.model.types import Domain, SendingIp, StackConfig
from coldmail.model.warmup import WarmupPlan


def ramp_day(start: _dt.date, day: _dt.date, held: AbstractSet[_dt.date] = frozenset()) -> Optional[int]:
    """The 0-based day of the ramp on ``day``; None before ``start`` (the ramp has not begun)."""
    if day < start:
        return None
    healthy = sum(1 for i in range((day - start).days) if start + _dt.timedelta(days=i) not in held)
    return max(healthy - 1, 0) if day in held else healthy


def step(plan: WarmupPlan, ramp: int) -> int:
    """How many times the ramp has grown by ``ramp`` day (0 during the first period)."""
    return ramp // plan.period_days


@dataclass(frozen=True)
class RampDay:
    """One IP's caps on one date. ``ramp`` is None before the start date, when the worker sends nothing."""

    date: _dt.date
    ramp: Optional[int]
    step: int
    ip_cap: int
    mailbox_cap: int
    held: bool

    @property
    def started(self) -> bool:
        return self.ramp is not None

    @property
    def worker_ip_cap(self) -> int:
        """What the worker itself may send from the IP: nothing before the start date."""
        return self.ip_cap if self.started else 0

    @property
    def worker_mailbox_cap(self) -> int:
        return self.mailbox_cap if self.started else 0

    def to_dict(self) -> dict:
        return {"date": self.date.isoformat(), "ramp_day": self.ramp, "step": self.step, "ip_cap": self.ip_cap,
                "mailbox_cap": self.mailbox_cap, "held": self.held}


def domains_on(settings: StackConfig, ip: SendingIp) -> list[Domain]:
    """The deployed domains that send from ``ip``."""
    return [d for d in settings.rollout.deployed(settings.domains) if d.server == ip.server and d.ip == ip.index]


def sending_ips(settings: StackConfig) -> list[SendingIp]:
    """Every sending IP at least one deployed domain sends from, in server then index order."""
    used = {(d.server, d.ip) for d in settings.rollout.deployed(settings.domains)}
    return [ip for s in settings.servers for ip in s.sending_ips if (ip.server, ip.index) in used]


def mailbox_cap(settings: StackConfig, domain: Domain, ip_cap: int) -> int:
    """A mailbox's cap when its IP may send ``ip_cap``: the plan's per-mailbox formula at that IP cap."""
    at_cap = dataclasses.replace(settings, warmup=dataclasses.replace(settings.warmup, max_per_ip_per_day=ip_cap))
    return planned_daily_sends(at_cap, domain)


def ramp_on(settings: StackConfig, ip: SendingIp, start: _dt.date, day: _dt.date,
            held: AbstractSet[_dt.date] = frozenset()) -> RampDay:
    """The caps of ``ip`` on ``day`` for a ramp that started on ``start`` with ``held`` days."""
    plan = settings.warmup
    r = ramp_day(start, day, held)
    ip_cap = plan.per_ip_limit(r or 0)
    domains = domains_on(settings, ip)
    mb_cap = mailbox_cap(settings, domains[0], ip_cap) if domains else 0
    return RampDay(day, r, step(plan, r or 0), ip_cap, mb_cap, day in held)


def ramp_between(settings: StackConfig, ip: SendingIp, start: _dt.date, first: _dt.date, days: int,
                 held: AbstractSet[_dt.date] = frozenset()) -> list[RampDay]:
    """``days`` consecutive days of ``ip``'s ramp from ``first``; future days are assumed healthy."""
    return [ramp_on(settings, ip, start, first + _dt.timedelta(days=i), held) for i in range(days)]
