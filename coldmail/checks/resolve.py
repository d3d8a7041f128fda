"""DNS for the checks: one recursive resolver, and the zones' authoritative servers.

Record comparisons ask the authoritative servers of each zone (what Cloudflare serves now, no cache in
between); everything a receiver would look up (PTR, FCrDNS, SPF evaluation, DNSBLs) goes through the
recursive resolver: the configured one (on the server, Mailcow's unbound, because Spamhaus refuses
public resolvers) or the system's. ``--nameserver`` replaces both, which is how the tests point every
lookup at a DNS server on loopback.

Answers are normalised to text: A/AAAA the address, MX ``"10 host"``, TXT the strings concatenated,
CNAME/PTR/NS the target, SRV ``"prio weight port target"``; names lowercase without the trailing dot.
An answer that could not be had (time-out, SERVFAIL, no server) says so in ``error``: callers report it
as unknown, never as absent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional, Sequence

import dns.exception
import dns.message
import dns.nameserver
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename


@dataclass(frozen=True)
class Answer:
    """What a lookup found: ``values`` (normalised text), or why there is no usable answer."""

    name: str
    rtype: str
    values: tuple[str, ...] = ()
    error: Optional[str] = None
    """Set when the question went unanswered (time-out, SERVFAIL): the truth is unknown."""
    nxdomain: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def host(name: str) -> str:
    """A DNS name as the checks compare it: lowercase, no trailing dot."""
    return str(name).rstrip(".").lower()


def _text(rdata) -> str:
    t = rdata.rdtype
    if t in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return rdata.address
    if t == dns.rdatatype.MX:
        return f"{rdata.preference} {host(rdata.exchange.to_text())}"
    if t == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")
    if t == dns.rdatatype.SRV:
        return f"{rdata.priority} {rdata.weight} {rdata.port} {host(rdata.target.to_text())}"
    if t in (dns.rdatatype.CNAME, dns.rdatatype.PTR, dns.rdatatype.NS):
        return host(rdata.target.to_text())
    return rdata.to_text()


def make_resolver(nameservers: Sequence[tuple[str, int]] = (), timeout: float = 5.0) -> dns.resolver.Resolver:
    """A resolver for ``nameservers`` (``(address, port)``), or the system's when there are none."""
    if nameservers:
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = [dns.nameserver.Do53Nameserver(a, p) for a, p in nameservers]
    else:
        r = dns.resolver.Resolver()
    r.lifetime = timeout
    r.timeout = min(timeout, 2.0)
    r.cache = None
    return r


class Dns:
    """The lookups of one check run.

    :param nameservers: replaces the recursive resolver *and* the authoritative servers (``--nameserver``).
    :param resolver: the recursive resolvers to use otherwise; empty means the system's.
    :param timeout: seconds per question, retries included.
    """

    def __init__(self, nameservers: Sequence[tuple[str, int]] = (), resolver: Sequence[tuple[str, int]] = (),
                 timeout: float = 5.0) -> None:
        self.override = tuple(nameservers)
        self.timeout = timeout
        self.recursive_servers = self.override or tuple(resolver)
        self.recursive = make_resolver(self.recursive_servers, timeout)
        self._zones: dict[str, dns.resolver.Resolver | str] = {}
        self._lock = threading.Lock()

    def _ask(self, resolver: dns.resolver.Resolver, name: str, rtype: str) -> Answer:
        qname = host(name) + "."
        try:
            ans = resolver.resolve(qname, rtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return Answer(host(name), rtype, nxdomain=True)
        except dns.resolver.NoNameservers as exc:
            return Answer(host(name), rtype, error=f"no server answered ({_failure_text(exc)})")
        except dns.exception.Timeout:
            return Answer(host(name), rtype, error=f"no answer within {self.timeout:g}s")
        except dns.exception.DNSException as exc:
            return Answer(host(name), rtype, error=f"lookup failed: {exc}")
        if ans.rrset is None:
            return Answer(host(name), rtype)
        return Answer(host(name), rtype, tuple(sorted(_text(r) for r in ans.rrset)))

    def lookup(self, name: str, rtype: str) -> Answer:
        """Ask the recursive resolver, as a receiving mail server would."""
        return self._ask(self.recursive, name, rtype)

    def ptr(self, address: str) -> Answer:
        return self.lookup(dns.reversename.from_address(address).to_text(), "PTR")

    def authoritative(self, zone: str, name: str, rtype: str) -> Answer:
        """Ask ``zone``'s own name servers (found through the recursive resolver) for ``name``."""
        resolver = self._zone_resolver(zone)
        if isinstance(resolver, str):
            return Answer(host(name), rtype, error=resolver)
        return self._ask(resolver, name, rtype)

    def _zone_resolver(self, zone: str) -> dns.resolver.Resolver | str:
        zone = host(zone)
        with self._lock:
            if zone in self._zones:
                return self._zones[zone]
        if self.override:
            found: dns.resolver.Resolver | str = self.recursive
        else:
            found = self._discover(zone)
        with self._lock:
            self._zones[zone] = found
        return found

    def _discover(self, zone: str) -> dns.resolver.Resolver | str:
        ns = self.lookup(zone, "NS")
        if not ns.ok or not ns.values:
            return f"the name servers of {zone} are unknown ({ns.error or 'no NS record'})"
        addresses = []
        for name in ns.values:
            for rtype in ("A", "AAAA"):
                a = self.lookup(name, rtype)
                addresses += [(v, 53) for v in a.values]
        if not addresses:
            return f"none of the name servers of {zone} ({', '.join(ns.values)}) has an address"
        return make_resolver(addresses, self.timeout)


def _failure_text(exc: dns.resolver.NoNameservers) -> str:
    """The rcode the servers answered with (``SERVFAIL``, ``REFUSED``…), from dnspython's error list."""
    errors = exc.kwargs.get("errors") or []
    for err in errors:
        answer = err[-1] if isinstance(err, tuple) else None
        if isinstance(answer, dns.message.Message):
            return dns.rcode.to_text(answer.rcode())
    return "SERVFAIL"
