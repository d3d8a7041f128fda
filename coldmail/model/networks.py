"""Network rules, each written once: whether a set of CIDRs opens something to the whole internet.

A literal comparison with ``0.0.0.0/0`` is easy to fool (``0.0.0.0/1`` plus ``128.0.0.0/1``, ``0::/0``,
``203.0.113.5/0``), so the schema, the components and the policy pack all compare address space with
:mod:`ipaddress` here instead.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

#: IPv4 space that is never a public internet source (RFC 6890 special-purpose blocks): a set of CIDRs
#: that covers everything else still admits the whole internet.
_IPV4_NOT_INTERNET = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"))
_IPV4_ALL = ipaddress.ip_network("0.0.0.0/0")
#: IANA's global unicast space: every public IPv6 address is in it.
_IPV6_GLOBAL = ipaddress.ip_network("2000::/3")


def parse_network(cidr: object) -> Optional[Network]:
    """``cidr`` as a network (host bits allowed, like the firewall takes them), or None when it is none."""
    try:
        return ipaddress.ip_network(str(cidr).strip(), strict=False)
    except ValueError:
        return None


def _uncovered(target: Network, nets: Iterable[Network]) -> list[Network]:
    """The parts of ``target`` that none of ``nets`` contains."""
    left = [target]
    for net in nets:
        rest: list[Network] = []
        for block in left:
            if block.version != net.version or not block.overlaps(net):
                rest.append(block)
            elif not block.subnet_of(net):  # net lies inside block: keep what is around it
                rest.extend(block.address_exclude(net))
        left = rest
        if not left:
            break
    return left


def covers_internet(cidrs: Iterable[object]) -> bool:
    """True when ``cidrs`` together admit every public IPv4 address or every public IPv6 address.

    Entries that are not networks are ignored (the schema reports them on their own).
    """
    nets = [n for n in (parse_network(c) for c in cidrs) if n is not None]
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    return (bool(v4) and not _uncovered(_IPV4_ALL, [*v4, *_IPV4_NOT_INTERNET])) or (
        bool(v6) and not _uncovered(_IPV6_GLOBAL, v6))
