"""How big Mailcow's limits are for a domain, and how much each mailbox may send: one formula each."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import Domain, StackConfig


def domain_sizing(domain: "Domain", headroom: int) -> dict[str, int]:
    """The Mailcow limits of a domain: room for its mailboxes plus ``headroom``, each at the largest quota."""
    max_mailboxes = len(domain.mailboxes) + headroom
    biggest = domain.largest_quota_mb
    return {
        "max_mailboxes": max_mailboxes,
        "max_mailbox_quota_mb": biggest,
        "default_mailbox_quota_mb": domain.mailbox_quota_mb,
        "domain_quota_mb": max(biggest, max_mailboxes * biggest),
    }


def planned_daily_sends(settings: "StackConfig", domain: "Domain") -> int:
    """Sends per mailbox per day once warmed up: the mailbox cap, or the IP's cap shared by its mailboxes."""
    on_ip = sum(len(d.mailboxes) for d in settings.domains if d.server == domain.server and d.ip == domain.ip)
    per_ip_share = settings.warmup.max_per_ip_per_day // max(on_ip, 1)
    # Never 0: downstream, a limit of 0 reads as "unlimited" (Mailcow rate limits) rather than "none".
    return max(1, min(settings.warmup.max_per_mailbox_per_day, per_ip_share))
