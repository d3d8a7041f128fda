"""Who sent a reported message: one of the stack's sending IPs, a source the owner allows, or unknown.

An unknown source is either a spoofer or a tool sending around the infrastructure (a sequencer's own
SMTP, a CRM): the first is what DMARC enforcement is for, the second is mail enforcement would cut off.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable, Mapping, Optional

STACK, KNOWN, UNKNOWN = "stack", "known", "unknown"
KINDS = (STACK, KNOWN, UNKNOWN)

#: A server owns its whole IPv6 /64 (Hetzner routes one per server); mail may leave from any address in it.
IPV6_SERVER_PREFIX = 64


def stack_ips_from_outputs(outputs: Mapping[str, Any]) -> dict[str, str]:
    """The sending IPs in the stack's ``servers`` output, each with a label like ``mx1/ip2 mx1-ip2.acme.com``.

    The output maps each server's name to ``{hostname, ipv4_address, ipv6_address, floating_ips: [{index, ip,
    ptr}]}``; an output from a failed or partial ``up`` may lack parts, which are skipped.
    """
    servers = outputs.get("servers")
    items = servers.items() if isinstance(servers, Mapping) else []
    found: dict[str, str] = {}
    for name, s in items:
        if not isinstance(s, Mapping):
            continue
        host = s.get("hostname") or ""
        if s.get("ipv4_address"):
            found[str(s["ipv4_address"])] = f"{name}/ip0 {host}".strip()
        if s.get("ipv6_address"):
            found[str(s["ipv6_address"]).split("/")[0]] = f"{name}/ipv6 {host}".strip()
        for f in s.get("floating_ips") or []:
            if isinstance(f, Mapping) and f.get("ip"):
                found[str(f["ip"])] = f"{name}/ip{f.get('index', '?')} {f.get('ptr') or ''}".strip()
    return found


class SourceSet:
    """Classifies source IPs against the stack's sending IPs and the config's ``reports.knownSources``."""

    def __init__(self, stack_ips: Mapping[str, str], known: Iterable[str] = ()) -> None:
        self.stack_ips = dict(stack_ips)
        self._stack: list[tuple[Any, str]] = []
        for address, label in self.stack_ips.items():
            ip = ipaddress.ip_address(address)
            prefix = ip.max_prefixlen if ip.version == 4 else IPV6_SERVER_PREFIX
            self._stack.append((ipaddress.ip_network(f"{ip}/{prefix}", strict=False), label))
        self.known = tuple(known)
        self._known = [ipaddress.ip_network(n, strict=False) for n in self.known]

    def classify(self, address: str) -> tuple[str, Optional[str]]:
        """``(kind, label)``: ``stack`` with the IP's label, ``known`` with the matching network, else ``unknown``."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return UNKNOWN, None
        for net, label in self._stack:
            if ip.version == net.version and ip in net:
                return STACK, label
        for net in self._known:
            if ip.version == net.version and ip in net:
                return KNOWN, str(net)
        return UNKNOWN, None
