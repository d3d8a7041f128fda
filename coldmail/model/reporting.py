"""``coldmail:reports``: what the DMARC report reader needs from the config besides the stack itself.

DMARC aggregate reports list every IP that sent mail with one of the stack's domains in ``From:``. The
stack's own sending IPs are known from its outputs; ``knownSources`` names the other senders the owner
allows (a transactional service, a Google Workspace range), so they are not flagged as unknown and do
not hold back the DMARC phase (docs/reports.md).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from .errors import ConfigIssue
from .reader import NAMESPACE, Section


@dataclass(frozen=True)
class ReportsConfig:
    known_sources: tuple[str, ...] = ()
    """Networks (``198.51.100.0/24``, ``2001:db8::/32``) or single addresses allowed to send as the stack's
    domains, normalised as CIDR strings."""


def read_reports(issues: list[ConfigIssue], data: Any) -> ReportsConfig:
    r = Section(issues, f"{NAMESPACE}:reports", data, ("knownSources",))
    known: list[str] = []
    for i, item in enumerate(r.list("knownSources", fix="list networks like `- 198.51.100.0/24`")):
        try:
            known.append(str(ipaddress.ip_network(str(item).strip(), strict=False)))
        except ValueError:
            r.error(f"knownSources[{i}]", f"{item!r} is not an IP address or network",
                    "write an address (198.51.100.7) or a CIDR network (198.51.100.0/24, 2001:db8::/32)")
    return ReportsConfig(tuple(dict.fromkeys(known)))
