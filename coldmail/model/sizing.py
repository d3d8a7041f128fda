"""How big Mailcow's limits are for a domain, and how much each mailbox may send: one formula each.

Mailcow checks a domain's limits when a mailbox is added and refuses to lower one below what is in use
(docs/mailcow-api.md §3). Each limit that changes costs an ``edit/domain`` write, and one that shrinks
must wait until the mailboxes have shrunk. So the limits move in steps rather than with every mailbox:
the mailbox slots and the quota are rounded up to a power of two, with room for every domain to grow to
``limits.maxMailboxesPerDomain`` plus ``limits.mailboxHeadroom`` mailboxes at its ``mailboxQuotaMb``. Within
that room, adding or removing a mailbox or changing one quota leaves the domain untouched (0 domain
writes); crossing a step costs one ``edit/domain`` (before the mailbox writes when it grows, after them
when it shrinks), which the stack's ``domains.<name>.mailcow_limits`` export shows in a preview.

The disk check counts :func:`disk_need_mb`, what the stack's mailboxes and their headroom may fill, not the
slack of the steps: the stack only grows into that slack through a config change, which is checked again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import Domain, Limits, StackConfig

#: The four limits of a Mailcow domain, as the providers and ``edit/domain`` name them.
LIMIT_KEYS = ("max_mailboxes", "domain_quota_mb", "max_mailbox_quota_mb", "default_mailbox_quota_mb")

#: Cold-email practice: one complaint spike burns every mailbox of a domain, so a domain keeps few of them.
#: The schema refuses more (``coldmail:limits.maxMailboxesPerDomain`` raises it); the policy pack warns.
MAX_MAILBOXES_PER_DOMAIN = 5


def step_up(n: int) -> int:
    """The step a limit of at least ``n`` is rounded to: the smallest power of two not below ``n``."""
    return 1 << max(n - 1, 0).bit_length()


def disk_need_mb(domain: "Domain", limits: "Limits") -> int:
    """MiB the domain's mailboxes may fill: their quotas, plus ``mailboxHeadroom`` more at its mailbox quota."""
    return sum(m.quota_mb for m in domain.mailboxes) + limits.mailbox_headroom * domain.mailbox_quota_mb


def domain_sizing(domain: "Domain", limits: "Limits") -> dict[str, int]:
    """The Mailcow limits of a domain, keyed by :data:`LIMIT_KEYS`; quotas in MiB.

    ``domain_quota_mb`` covers every mailbox's quota plus the room at the domain's mailbox quota. The
    per-mailbox maximum and the UI's default quota equal it: the stack sets every mailbox's quota itself,
    so a tighter per-mailbox cap would only add a domain write to every change of the largest quota.
    """
    count = len(domain.mailboxes)
    to_advisory = max(limits.max_mailboxes_per_domain - count, 0)
    total = step_up(disk_need_mb(domain, limits) + to_advisory * domain.mailbox_quota_mb)
    return {"max_mailboxes": step_up(count + to_advisory + limits.mailbox_headroom), "domain_quota_mb": total,
            "max_mailbox_quota_mb": total, "default_mailbox_quota_mb": total}


def planned_daily_sends(settings: "StackConfig", domain: "Domain") -> int:
    """Sends per mailbox per day once warmed up: the mailbox cap, or the IP's cap shared by its mailboxes."""
    on_ip = sum(len(d.mailboxes) for d in settings.domains if d.server == domain.server and d.ip == domain.ip)
    per_ip_share = settings.warmup.max_per_ip_per_day // max(on_ip, 1)
    # Never 0: downstream, a limit of 0 reads as "unlimited" (Mailcow rate limits) rather than "none".
    return max(1, min(settings.warmup.max_per_mailbox_per_day, per_ip_share))
