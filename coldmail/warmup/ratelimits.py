"""The ramp enforced by the server itself: a Mailcow rate limit per mailbox, set at each ramp step.

Read, compare, act: one read of every mailbox limit per server, then one write per distinct cap for
the mailboxes whose limit differs (a new step, a limit someone removed or changed by hand). A day when
nothing changes costs one read. Mailcow's limits are rspamd token buckets (burst N, refilled over a
day), not calendar-day counters (docs/mailcow-api.md §6): they stop any tool, the user's sequencer
included, from sending far past the cap, while the worker counts its own sends per calendar day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Optional

from dynamic_providers.client import MailcowClient
from dynamic_providers.errors import MailcowError

FRAME = "d"


@dataclass
class RateLimitReport:
    """What one server's limits looked like and what changed."""

    server: str
    checked: int = 0
    changed: list[dict] = field(default_factory=list)
    error: Optional[str] = None

    def to_dict(self) -> dict:
        return {"server": self.server, "checked": self.checked, "changed": list(self.changed), "error": self.error}


def apply_rate_limits(server: str, client: MailcowClient, wanted: Mapping[str, int]) -> RateLimitReport:
    """Make every mailbox in ``wanted`` (address → messages per day, at least 1) carry exactly that limit."""
    report = RateLimitReport(server, checked=len(wanted))
    try:
        current = client.list_mailbox_rate_limits()
        by_value: dict[int, list[dict]] = defaultdict(list)
        for address, value in sorted(wanted.items()):
            have = current.get(address.lower())
            if have is None or have.value != value or have.frame != FRAME:
                by_value[value].append({"mailbox": address, "from": f"{have.value}/{have.frame}" if have else None,
                                        "to": f"{value}/{FRAME}"})
        for value, changes in sorted(by_value.items()):
            client.set_mailbox_rate_limits([c["mailbox"] for c in changes], value, FRAME)
            report.changed += changes
    except MailcowError as exc:
        report.error = str(exc)
    return report
