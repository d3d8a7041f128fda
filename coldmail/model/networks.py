"""IP networks as firewalls and allow-lists use them, and what "open to the internet" means.

A list of networks is open to the internet when together they cover every address the internet can send
from, whatever way they are written: ``0.0.0.0/0``, ``0.0.0.0/1`` + ``128.0.0.0/1``, ``203.0.113.5/0``
(host bits set) or ``0::/0``. Addresses no internet packet carries as its source (private, loopback,
link-local, shared, documentation, benchmarking, multicast, reserved) do not need to be covered, so
"everything but 10.0.0.0/8" is open to the internet too.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# The IANA special-purpose address registries (RFC 6890 and its updates): never an internet source.
_NOT_INTERNET_V4 = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
                    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4")
# IPv6 internet addresses are global unicast, 2000::/3 (RFC 4291 §2.4), less its documentation prefixes.
_GLOBAL_UNICAST_V6 = "2000::/3"
_NOT_INTERNET_V6 = ("2001:db8::/32", "3fff::/20")

Span = tuple[int, int]


def parse_network(text: object) -> Optional[Network]:
    """``text`` as a network, host bits allowed (``203.0.113.5/0`` is ``0.0.0.0/0``); None when it is none."""
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _span(net: Network) -> Span:
    return int(net.network_address), int(net.broadcast_address)


def _merged(spans: Iterable[Span]) -> list[Span]:
    """Overlapping and adjacent spans joined, in order."""
    out: list[Span] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _without(universe: str, holes: Iterable[str]) -> list[Span]:
    lo, hi = _span(ipaddress.ip_network(universe))
    out, start = [], lo
    for h_lo, h_hi in _merged(_span(ipaddress.ip_network(h)) for h in holes):
        if h_lo > start:
            out.append((start, h_lo - 1))
        start = max(start, h_hi + 1)
    if start <= hi:
        out.append((start, hi))
    return out


#: Per IP version, the address spans a connection from the internet can come from.
_INTERNET: dict[int, list[Span]] = {4: _without("0.0.0.0/0", _NOT_INTERNET_V4),
                                    6: _without(_GLOBAL_UNICAST_V6, _NOT_INTERNET_V6)}


def internet_versions(cidrs: Iterable[object]) -> frozenset[int]:
    """The IP versions (4, 6) whose whole internet ``cidrs`` cover together; entries that are no network
    are ignored. Empty when the networks leave some internet address out."""
    nets = [n for n in (parse_network(c) for c in cidrs) if n is not None]
    covered = set()
    for version, needed in _INTERNET.items():
        have = _merged(_span(n) for n in nets if n.version == version)
        if all(any(a <= lo and hi <= b for a, b in have) for lo, hi in needed):
            covered.add(version)
    return frozenset(covered)


def covers_internet(cidrs: Iterable[object]) -> bool:
    """True when ``cidrs`` together admit every public IPv4 address or every public IPv6 address."""
    return bool(internet_versions(cidrs))


def is_loopback(host: str) -> bool:
    """True for this machine: ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
