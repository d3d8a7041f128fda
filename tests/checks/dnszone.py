"""A real DNS server on 127.0.0.1 (dnslib, UDP) serving test zones, for the checks and the benchmark.

Records are ``(name, type) -> [value, ...]`` in the checks' text forms: A/AAAA an address, MX
``"10 host"``, TXT the whole value (split into 255-byte strings on the wire, as Cloudflare serves long
DKIM keys), CNAME/PTR/NS a name, SRV ``"prio weight port target"``. A name can instead be made to
time out (no reply at all) or to answer SERVFAIL, and every answer can be delayed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Iterable, Optional

from dnslib import AAAA, CNAME, MX, NS, PTR, QTYPE, RCODE, RR, SRV, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSError, DNSLogger, DNSServer


def _rdata(rtype: str, value: str):
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "MX":
        pref, exchange = value.split()
        return MX(exchange + ".", int(pref))
    if rtype == "TXT":
        raw = value.encode()
        return TXT([raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""])
    if rtype == "CNAME":
        return CNAME(value + ".")
    if rtype == "PTR":
        return PTR(value + ".")
    if rtype == "NS":
        return NS(value + ".")
    if rtype == "SRV":
        prio, weight, port, target = value.split()
        return SRV(int(prio), int(weight), int(port), target + ".")
    raise ValueError(rtype)


def _key(name: str) -> str:
    return str(name).rstrip(".").lower()


class ZoneResolver(BaseResolver):
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.timeouts: set[str] = set()
        self.servfail: set[str] = set()
        self.delay = 0.0
        self.asked: Counter = Counter()
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        qname = _key(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.asked[(qname, qtype)] += 1
        if self.delay:
            time.sleep(self.delay)
        if qname in self.timeouts:
            raise DNSError("dropped on purpose: the client must time out")
        reply = request.reply()
        reply.header.aa = 1
        if qname in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        name, seen = qname, 0
        while seen < 8:
            seen += 1
            values = self.records.get((name, qtype))
            if values:
                for v in values:
                    reply.add_answer(RR(DNSLabel(name + "."), QTYPE.reverse[qtype], rdata=_rdata(qtype, v), ttl=60))
                return reply
            cname = self.records.get((name, "CNAME"))
            if cname and qtype != "CNAME":
                reply.add_answer(RR(DNSLabel(name + "."), QTYPE.CNAME, rdata=CNAME(cname[0] + "."), ttl=60))
                name = _key(cname[0])
                continue
            break
        if not any(k[0] == name for k in self.records):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class ZoneServer:
    """``with ZoneServer() as z: z.add("a.test", "A", "192.0.2.1")``; ``z.address`` is ``(ip, port)``."""

    def __init__(self, delay: float = 0.0) -> None:
        self.resolver = ZoneResolver()
        self.resolver.delay = delay
        self.server = DNSServer(self.resolver, address="127.0.0.1", port=0,
                                logger=DNSLogger("-recv,-send,-request,-reply,-truncated,-error,-data"))
        self.server.server.daemon_threads = True

    @property
    def address(self) -> tuple[str, int]:
        return self.server.server.server_address[:2]

    @property
    def nameserver(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def add(self, name: str, rtype: str, *values: str) -> None:
        self.resolver.records.setdefault((_key(name), rtype), []).extend(values)

    def set(self, name: str, rtype: str, *values: str) -> None:
        self.resolver.records[(_key(name), rtype)] = list(values)

    def remove(self, name: str, rtype: Optional[str] = None) -> None:
        for key in [k for k in self.resolver.records if k[0] == _key(name) and rtype in (None, k[1])]:
            del self.resolver.records[key]

    def time_out(self, names: Iterable[str]) -> None:
        self.resolver.timeouts.update(_key(n) for n in names)

    def fail(self, names: Iterable[str]) -> None:
        self.resolver.servfail.update(_key(n) for n in names)

    def start(self) -> "ZoneServer":
        self.server.start_thread()
        return self

    def stop(self) -> None:
        self.server.server.shutdown()
        self.server.server.server_close()

    def __enter__(self) -> "ZoneServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
