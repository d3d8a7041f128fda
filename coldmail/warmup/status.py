"""Where the warmup stands today: caps, sends, receipts, replies and placement per IP, mailbox and seed.

Read-only: nothing is written, so it can run next to the worker at any time. Placement counts where
the warmup mail a mailbox (or IP) sent over the last :data:`PLACEMENT_DAYS` days was first seen by its
recipients: inbox, spam or promotions.
"""

from __future__ import annotations

import datetime as _dt
from typing import Mapping, Optional

from coldmail.model.types import StackConfig

from .ramps import current_ramps
from .store import Counts, WarmupStore

PLACEMENT_DAYS = 7


def warmup_status(settings: StackConfig, store: WarmupStore, now: _dt.datetime,
                  addresses: Optional[Mapping[str, str]] = None) -> dict:
    """The ``coldmail warmup status`` document (see docs/cli.md)."""
    ramps = current_ramps(settings, store, store.history, now, addresses, record=False)
    utc_day = now.astimezone(_dt.timezone.utc).date()
    cache: dict[_dt.date, tuple[dict[str, Counts], dict[str, Counts]]] = {}

    def counts(day: _dt.date) -> tuple[dict[str, Counts], dict[str, Counts]]:
        if day not in cache:
            cache[day] = store.counts(day, day - _dt.timedelta(days=PLACEMENT_DAYS - 1))
        return cache[day]

    ips, mailboxes = [], []
    for r in ramps:
        by_addr, by_ip = counts(r.today.date)
        mine = [(a, by_addr.get(a, Counts())) for a in r.mailboxes]
        ip_counts = by_ip.get(r.ip.label, Counts()).to_dict()
        ip_counts["received"] = sum(c.received for _, c in mine)
        ips.append({**r.to_dict(), **ip_counts})
        for address, c in mine:
            mailboxes.append({"address": address, "ip": r.ip.label, "day": r.today.date.isoformat(),
                              "cap": r.today.worker_mailbox_cap, **c.to_dict()})
    by_addr, _ = counts(utc_day)
    seeds = [{"address": s.address, "provider": s.provider, "day": utc_day.isoformat(), "cap": s.max_per_day,
              **by_addr.get(s.address, Counts()).to_dict()} for s in settings.warmup_exchange.seeds]
    return {"at": now.isoformat(), "start_date": settings.warmup.start_date.isoformat()
            if settings.warmup.start_date else None, "placement_days": PLACEMENT_DAYS,
            "ips": ips, "mailboxes": mailboxes, "seeds": seeds}
