"""Today's ramp of every sending IP: its start and held days from the store, its hold from the history.

Days are calendar days in the server's timezone (``coldmail:servers[i].timezone``): the day a
sender counts its sends in, and the day a ramp step begins.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Mapping, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coldmail.model.types import SendingIp, StackConfig
from coldmail.ops import signals
from coldmail.ops.history import History

from .hold import Hold, health_states, hold_from, ip_subjects
from .schedule import RampDay, domains_on, ramp_on, sending_ips
from .store import WarmupStore, ramp_start


def zone(name: str) -> _dt.tzinfo:
    """The named timezone; UTC for a name this machine does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return _dt.timezone.utc


def local_day(now: _dt.datetime, tz: _dt.tzinfo) -> _dt.date:
    return now.astimezone(tz).date()


@dataclass(frozen=True)
class IpRamp:
    """One sending IP today: where its ramp stands, and why it holds, if it does."""

    ip: SendingIp
    address: Optional[str]
    start: _dt.date
    today: RampDay
    hold: Hold
    mailboxes: tuple[str, ...]

    @property
    def subject(self) -> str:
        """Its history subject: ``ip:<address>``, or ``ip:<server>/ip<N>`` while the address is unknown."""
        return signals.ip_subject(self.address or self.ip.label)

    def to_dict(self) -> dict:
        return {"ip": self.ip.label, "address": self.address, "server": self.ip.server, "index": self.ip.index,
                "ptr": self.ip.ptr_name, "start": self.start.isoformat(), **self.today.to_dict(),
                "hold_reasons": list(self.hold.reasons), "mailboxes": list(self.mailboxes)}


def ip_timezone(settings: StackConfig, ip: SendingIp) -> _dt.tzinfo:
    return zone(settings.server(ip.server).timezone)


def current_ramps(settings: StackConfig, store: WarmupStore, history: History, now: _dt.datetime,
                  addresses: Optional[Mapping[str, str]] = None, record: bool = False) -> list[IpRamp]:
    """Every sending IP's ramp on its local day at ``now``.

    With ``record`` (the worker) new IPs are registered and a bad-health day is stored as held; without it
    (status, schedule) nothing is written, and a hold seen now counts as holding today.
    """
    addresses = addresses or {}
    ips = sending_ips(settings)
    days = {ip.label: local_day(now, ip_timezone(settings, ip)) for ip in ips}
    if record:
        starts = store.register_ips(days, settings.warmup.start_date)
    else:
        first_run = store.first_run()
        known = store.ip_starts()
        starts = {label: known.get(label) or ramp_start(first_run, day, settings.warmup.start_date)
                  for label, day in days.items()}
    states = health_states(history)
    out = []
    for ip in ips:
        day = days[ip.label]
        hold = hold_from(states, ip_subjects(settings, ip, addresses.get(ip.label)))
        if record and hold.held:
            store.mark_held(ip.label, day, hold.reasons)
        held = store.held_days(ip.label) | ({day} if hold.held else set())
        mailboxes = tuple(m.address for d in domains_on(settings, ip) for m in d.mailboxes)
        out.append(IpRamp(ip, addresses.get(ip.label), starts[ip.label], ramp_on(settings, ip, starts[ip.label], day,
                                                                                 held), hold, mailboxes))
    return out
