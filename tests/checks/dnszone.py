"""A real DNS server on 127.0.0.1 (UDP; dnslib reads and writes the wire format) serving test zones, for
the checks and the benchmark. It runs an asyncio loop on a thread of its own: a delayed answer is a timer,
not a sleeping thread, so a benchmark measures the client rather than the server.

Records are ``(name, type) -> [value, ...]`` in the checks' text forms: A/AAAA an address, MX
``"10 host"``, TXT the whole value (split into 255-byte strings on the wire, as Cloudflare serves long
DKIM keys), CNAME/PTR/NS a name, SRV ``"prio weight port target"``. A name can instead be made to
time out (no reply at all) or to answer SERVFAIL, and every answer can be delayed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Iterable, Optional

from dnslib import AAAA, CNAME, MX, NS, PTR, QTYPE, RCODE, RR, SRV, TXT, A, DNSLabel, DNSRecord


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


class ZoneResolver:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.timeouts: set[str] = set()
        self.servfail: set[str] = set()
        self.delay = 0.0
        self.asked: Counter = Counter()
        self.lock = threading.Lock()
        self.inflight = 0
        """Questions received and not answered yet; ``peak`` is the most there ever were."""
        self.peak = 0

    def resolve(self, request: DNSRecord) -> Optional[DNSRecord]:
        """The reply to ``request``, or None to drop it (the client must time out)."""
        qname = _key(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.asked[(qname, qtype)] += 1
        if qname in self.timeouts:
            return None
        reply = request.reply()
        reply.header.aa = 1
        if qname in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        name, seen = qname, 0
        while seen < 8:
            seen += 1
            values = self.records.get((name, qtype)) or self.records.get((self._wildcard(name) or "", qtype))
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
        if not any(k[0] == name for k in self.records) and self._wildcard(name) is None:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply

    def _wildcard(self, name: str) -> Optional[str]:
        """The ``*.`` name that answers for a name that does not exist itself (RFC 4592), as Cloudflare serves
        wildcards: the nearest ancestor's, unless a nearer ancestor exists in its own right."""
        names = {k[0] for k in self.records}
        if name in names:
            return None
        labels = name.split(".")
        for i in range(1, len(labels)):
            parent = ".".join(labels[i:])
            if "*." + parent in names:
                return "*." + parent
            if parent in names:
                return None
        return None


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, resolver: ZoneResolver) -> None:
        self.resolver = resolver
        self.transport: Optional[asyncio.DatagramTransport] = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            reply = self.resolver.resolve(DNSRecord.parse(data))
        except Exception:  # noqa: BLE001 - a malformed question gets no answer, as from a real server
            return
        if reply is None:
            return
        packed = reply.pack()
        self.resolver.inflight += 1
        self.resolver.peak = max(self.resolver.peak, self.resolver.inflight)
        if self.resolver.delay:
            asyncio.get_running_loop().call_later(self.resolver.delay, self._send, packed, addr)
        else:
            self._send(packed, addr)

    def _send(self, packed: bytes, addr) -> None:
        self.resolver.inflight -= 1
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(packed, addr)


class ZoneServer:
    """``with ZoneServer() as z: z.add("a.test", "A", "192.0.2.1")``; ``z.address`` is ``(ip, port)``."""

    def __init__(self, delay: float = 0.0) -> None:
        self.resolver = ZoneResolver()
        self.resolver.delay = delay
        self.loop = asyncio.new_event_loop()
        self.transport: Optional[asyncio.DatagramTransport] = None
        self.thread: Optional[threading.Thread] = None

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.get_extra_info("sockname")[:2]

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
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.transport, _ = self.loop.run_until_complete(self.loop.create_datagram_endpoint(
                lambda: _Protocol(self.resolver), local_addr=("127.0.0.1", 0)))
            ready.set()
            self.loop.run_forever()
            self.transport.close()
            self.loop.run_until_complete(asyncio.sleep(0))
            self.loop.close()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread is not None:
            self.thread.join(10)

    def __enter__(self) -> "ZoneServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
