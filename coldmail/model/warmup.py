"""The warmup plan: how many mails an IP may send on each day of its ramp."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class WarmupPlan:
    start_per_ip_per_day: int
    growth_factor: float
    period_days: int
    max_per_ip_per_day: int
    max_per_mailbox_per_day: int
    start_date: Optional[_dt.date]

    def per_ip_limit(self, day: int) -> int:
        """Planned sends per IP on ``day`` (0-based) of the warmup, capped."""
        steps = max(day, 0) // self.period_days
        return int(min(self.max_per_ip_per_day, round(self.start_per_ip_per_day * self.growth_factor ** steps)))
