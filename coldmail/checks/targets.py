"""What the checks look at: the stack config plus the stack's outputs, when there are any.

The config says which servers, sending IPs, PTR names and domains should exist; the outputs
(``pulumi stack output servers``) add the addresses Hetzner assigned. Without outputs every address is
unknown, and every check that needs one reports ``unknown``, never ``ok``: an IP nobody looked at is
not clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from coldmail.model import Domain, StackConfig
from coldmail.model.records import SendingAddresses, sending_addresses, sends_over_ipv6
from coldmail.ops.signals import domain_subject, ip_subject, server_subject


@dataclass(frozen=True)
class IpTarget:
    """One sending IP: index 0 the server's primary IPv4, 1..N its floating IPs."""

    server: str
    index: int
    ptr_name: str
    """The PTR name the stack sets, which is also the HELO of the IP's relay."""
    address: Optional[str]
    domains: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.server}/ip{self.index}"

    @property
    def subject(self) -> str:
        """``ip:<address>``, or ``ip:<server>/ip<n>`` while the address is unknown."""
        return ip_subject(self.address or self.label)


@dataclass(frozen=True)
class ServerTarget:
    name: str
    hostname: str
    ipv6: Optional[str]
    ips: tuple[IpTarget, ...]

    @property
    def subject(self) -> str:
        return server_subject(self.name)

    @property
    def address(self) -> Optional[str]:
        return self.ips[0].address


@dataclass(frozen=True)
class DomainTarget:
    domain: Domain
    ip: IpTarget

    @property
    def name(self) -> str:
        return self.domain.name

    @property
    def subject(self) -> str:
        return domain_subject(self.domain.name)


@dataclass(frozen=True)
class Targets:
    stack: StackConfig
    servers: tuple[ServerTarget, ...]
    domains: tuple[DomainTarget, ...]

    @property
    def ips(self) -> tuple[IpTarget, ...]:
        return tuple(ip for s in self.servers for ip in s.ips)

    def server(self, name: str) -> ServerTarget:
        return next(s for s in self.servers if s.name == name)

    def sending(self, target: DomainTarget) -> Optional[SendingAddresses]:
        """The addresses the domain's SPF must list, or None while any of them is unknown."""
        server = self.server(target.domain.server)
        ipv4s = [ip.address for ip in server.ips]
        if ipv4s[target.domain.ip] is None:
            return None
        if sends_over_ipv6(self.stack, target.domain) and server.ipv6 is None:
            return None
        return sending_addresses(self.stack, target.domain, ipv4s, server.ipv6)  # type: ignore[arg-type]

    @classmethod
    def build(cls, stack: StackConfig, outputs: Optional[Mapping[str, Any]] = None,
              only_server: Optional[str] = None) -> "Targets":
        """The targets of ``stack``; ``outputs`` are the stack outputs (``servers`` is read), if any.

        ``only_server`` limits them to one server's IPs and domains (the on-server agent).
        """
        exported = _exported_servers(outputs or {})
        deployed = stack.rollout.deployed(stack.domains)
        servers, domains = [], []
        for s in stack.servers:
            if only_server and s.name != only_server:
                continue
            out = exported.get(s.name, {})
            addresses = _addresses(out, s.ptr_names)
            ips = tuple(IpTarget(s.name, sip.index, sip.ptr_name, addresses[sip.index],
                                 tuple(d.name for d in deployed if d.server == s.name and d.ip == sip.index))
                        for sip in s.sending_ips)
            v6 = out.get("ipv6_address") or out.get("ipv6")
            servers.append(ServerTarget(s.name, s.hostname, str(v6) if v6 and s.ipv6 else None, ips))
            domains += [DomainTarget(d, ips[d.ip]) for d in deployed if d.server == s.name]
        return cls(stack, tuple(servers), tuple(domains))


def _exported_servers(outputs: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    servers = outputs.get("servers")
    if isinstance(servers, Mapping):
        return {str(k): v for k, v in servers.items() if isinstance(v, Mapping)}
    if isinstance(servers, list):
        return {str(s.get("name")): s for s in servers if isinstance(s, Mapping) and s.get("name")}
    return {}


def _addresses(out: Mapping[str, Any], ptr_names: tuple[str, ...]) -> list[Optional[str]]:
    """Index 0 the primary IPv4, 1..N the floating IPs matched by PTR name (else by index)."""
    addresses: list[Optional[str]] = [None] * (len(ptr_names) + 1)
    primary = out.get("ipv4_address") or out.get("ipv4")
    addresses[0] = str(primary) if primary else None
    for item in out.get("floating_ips") or []:
        if not isinstance(item, Mapping) or not item.get("ip"):
            continue
        if item.get("ptr") in ptr_names:
            addresses[1 + ptr_names.index(item["ptr"])] = str(item["ip"])
        elif isinstance(item.get("index"), int) and 1 <= item["index"] <= len(ptr_names):
            addresses[item["index"]] = str(item["ip"])
    return addresses
