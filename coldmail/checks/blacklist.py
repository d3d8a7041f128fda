"""DNS blacklists: every sending IP and every domain, with explicit return-code tables.

A DNSBL answers a question about ``4.3.2.1.zen.spamhaus.org`` (an IP, octets reversed) or
``example.com.dbl.spamhaus.org`` (a domain) with NXDOMAIN when nothing is listed and with ``127.x.y.z``
addresses otherwise. Not every address means "listed": Spamhaus answers ``127.255.255.252/254/255``
for a typo, a query through a public resolver and too many queries, and URIBL answers ``127.0.0.1``
for a refused query. Each list below therefore says which codes mean listed, which mean the query
failed, and anything else is an unexpected answer; failures and time-outs are ``unknown``, never clean.

SORBS closed on 2024-06-05 and is not asked. UCEPROTECT levels 2 and 3 list whole allocations and
networks (a Hetzner-sized network is often on them), so they are information only: they never fail a
check, hold a warmup or trigger a move.

Queries run concurrently on one asyncio loop, at most ``concurrency`` at once, straight to the configured
resolver (plain dnspython queries: a resolver object per question costs more than the question). The Spamhaus DQS key becomes part of each query name, so no query name is ever logged or
returned; results name the public zone.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver

from coldmail.ops.history import FAIL, INFO, OK, UNKNOWN, Observation
from coldmail.ops.signals import BLACKLIST

from .context import SOURCE


_SPAMHAUS_ERRORS = {
    "127.255.255.252": "the query name has a typing error",
    "127.255.255.254": "queried through a public or unattributed resolver; use a local resolver or a DQS key",
    "127.255.255.255": "too many queries from this resolver",
}


@dataclass(frozen=True)
class Dnsbl:
    """One DNS blacklist and how to read its answers.

    ``listed`` maps exact answers to their meaning; ``bits`` maps the bits of the last octet of a
    bitmask list (any answer whose bits are all known and not zero is a listing); ``errors`` maps
    answers that report a failed query.
    """

    key: str
    """The check name suffix: ``blacklist.<key>``."""
    name: str
    zone: str
    target: str
    """``ip`` or ``domain``."""
    listed: Mapping[str, str] = field(default_factory=dict)
    bits: Mapping[int, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    gating: bool = True
    """False: information only (never fails a check, holds a warmup or proposes a move)."""
    delist: str = ""
    dqs_zone: Optional[str] = None
    """With a Spamhaus DQS key, the query goes to ``<key>.<dqs_zone>`` instead of ``zone``."""

    @property
    def check(self) -> str:
        return f"{BLACKLIST}.{self.key}"

    def query_name(self, subject: str, dqs_key: Optional[str] = None) -> str:
        zone = f"{dqs_key}.{self.dqs_zone}" if dqs_key and self.dqs_zone else self.zone
        if self.target == "ip":
            addr = ipaddress.ip_address(subject)
            if addr.version == 4:
                head = ".".join(reversed(addr.exploded.split(".")))
            else:
                head = ".".join(reversed(addr.exploded.replace(":", "")))
            return f"{head}.{zone}."
        return f"{subject.rstrip('.').lower()}.{zone}."

    def delist_url(self, subject: str) -> str:
        return self.delist.format(subject=subject)


ZEN = Dnsbl("zen", "Spamhaus ZEN", "zen.spamhaus.org", "ip", listed={
    "127.0.0.2": "SBL: a known spam source", "127.0.0.3": "SBL CSS: snowshoe spam",
    "127.0.0.4": "XBL: exploited or infected host", "127.0.0.5": "XBL: exploited or infected host",
    "127.0.0.6": "XBL: exploited or infected host", "127.0.0.7": "XBL: exploited or infected host",
    "127.0.0.9": "SBL DROP: hijacked network",
    "127.0.0.10": "PBL (ISP): an address that should not send mail directly",
    "127.0.0.11": "PBL (Spamhaus): an address that should not send mail directly",
}, errors=_SPAMHAUS_ERRORS, delist="https://check.spamhaus.org/results/?query={subject}",
    dqs_zone="zen.dq.spamhaus.net")
BARRACUDA = Dnsbl("barracuda", "Barracuda BRBL", "b.barracudacentral.org", "ip",
                  listed={"127.0.0.2": "listed by Barracuda"},
                  delist="https://www.barracudacentral.org/rbl/removal-request")
SPAMCOP = Dnsbl("spamcop", "SpamCop", "bl.spamcop.net", "ip",
                listed={"127.0.0.2": "reported as a spam source (expires about 24 h after the last report)"},
                delist="https://www.spamcop.net/bl.shtml?{subject}")
UCEPROTECT_1 = Dnsbl("uceprotect-1", "UCEPROTECT level 1", "dnsbl-1.uceprotect.net", "ip",
                     listed={"127.0.0.2": "this address sent to spam traps (expires after 7 days)"},
                     delist="https://www.uceprotect.net/en/rblcheck.php?ipr={subject}")
UCEPROTECT_2 = Dnsbl("uceprotect-2", "UCEPROTECT level 2", "dnsbl-2.uceprotect.net", "ip",
                     listed={"127.0.0.2": "the address's allocation is listed (information only)"},
                     gating=False, delist="https://www.uceprotect.net/en/rblcheck.php?ipr={subject}")
UCEPROTECT_3 = Dnsbl("uceprotect-3", "UCEPROTECT level 3", "dnsbl-3.uceprotect.net", "ip",
                     listed={"127.0.0.2": "the address's whole network (ASN) is listed (information only)"},
                     gating=False, delist="https://www.uceprotect.net/en/rblcheck.php?ipr={subject}")
MAILSPIKE = Dnsbl("mailspike", "Mailspike BL", "bl.mailspike.net", "ip", listed={
    "127.0.0.2": "seen in a distributed spam wave", "127.0.0.10": "worst reputation (L5)",
    "127.0.0.11": "very bad reputation (L4)", "127.0.0.12": "bad reputation (L3)",
}, delist="https://mailspike.org/iplookup.html")
PSBL = Dnsbl("psbl", "PSBL", "psbl.surriel.com", "ip", listed={"127.0.0.2": "sent mail to PSBL spam traps"},
             delist="https://psbl.org/listing?ip={subject}")

DBL = Dnsbl("dbl", "Spamhaus DBL", "dbl.spamhaus.org", "domain", listed={
    "127.0.1.2": "spam domain", "127.0.1.4": "phishing domain", "127.0.1.5": "malware domain",
    "127.0.1.6": "botnet C&C domain", "127.0.1.102": "abused legitimate domain: spam",
    "127.0.1.103": "abused legitimate domain: spammed redirector", "127.0.1.104": "abused legitimate domain: phishing",
    "127.0.1.105": "abused legitimate domain: malware", "127.0.1.106": "abused legitimate domain: botnet C&C",
}, errors={**_SPAMHAUS_ERRORS, "127.0.1.255": "an IP address was queried against a domain list"},
    delist="https://check.spamhaus.org/results/?query={subject}", dqs_zone="dbl.dq.spamhaus.net")
SURBL = Dnsbl("surbl", "SURBL multi", "multi.surbl.org", "domain",
              bits={8: "phishing (PH)", 16: "malware (MW)", 64: "abuse (ABUSE)", 128: "cracked site (CR)"},
              delist="https://www.surbl.org/surbl-analysis")
URIBL = Dnsbl("uribl", "URIBL multi", "multi.uribl.com", "domain",
              bits={2: "black", 4: "grey", 8: "red"},
              errors={"127.0.0.1": "query refused (public resolver or too many queries)"},
              delist="https://admin.uribl.com/")

IP_LISTS: tuple[Dnsbl, ...] = (ZEN, BARRACUDA, SPAMCOP, UCEPROTECT_1, UCEPROTECT_2, UCEPROTECT_3, MAILSPIKE, PSBL)
DOMAIN_LISTS: tuple[Dnsbl, ...] = (DBL, SURBL, URIBL)
LISTS: dict[str, Dnsbl] = {b.check: b for b in (*IP_LISTS, *DOMAIN_LISTS)}


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Raw:
    """What the resolver said: A records, or NXDOMAIN, or why there was no answer."""

    codes: tuple[str, ...] = ()
    nxdomain: bool = False
    error: Optional[str] = None


@dataclass(frozen=True)
class Verdict:
    status: str
    listed: bool
    meanings: tuple[str, ...]
    codes: tuple[str, ...]
    summary: str


def verdict(bl: Dnsbl, raw: Raw) -> Verdict:
    """Read one answer with ``bl``'s table: ok, listed (fail, or info for an information-only list) or unknown."""
    if raw.error is not None:
        return Verdict(UNKNOWN, False, (), (), f"{bl.name}: {raw.error}")
    if raw.nxdomain or not raw.codes:
        return Verdict(OK, False, (), (), f"not listed on {bl.name}")
    errors = [bl.errors[c] for c in raw.codes if c in bl.errors]
    if errors:
        return Verdict(UNKNOWN, False, tuple(errors), raw.codes,
                       f"{bl.name} refused the query ({', '.join(raw.codes)}: {'; '.join(errors)})")
    meanings: list[str] = []
    for code in raw.codes:
        meaning = bl.listed.get(code) or _bit_meaning(bl, code)
        if meaning is None:
            return Verdict(UNKNOWN, False, (), raw.codes,
                           f"{bl.name} gave an answer with no documented meaning ({', '.join(raw.codes)})")
        meanings.append(meaning)
    status = FAIL if bl.gating else INFO
    return Verdict(status, True, tuple(meanings), raw.codes, f"listed on {bl.name}: {'; '.join(meanings)}")


def _bit_meaning(bl: Dnsbl, code: str) -> Optional[str]:
    if not bl.bits or not code.startswith("127.0.0."):
        return None
    last = int(code.rsplit(".", 1)[1])
    known = [meaning for bit, meaning in sorted(bl.bits.items()) if last & bit]
    if not known or sum(bit for bit in bl.bits if last & bit) != last:
        return None
    return ", ".join(known)


# --------------------------------------------------------------------------------------------
# Concurrent queries
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Query:
    bl: Dnsbl
    subject: str
    """The IP address or domain asked about."""


def _servers(nameservers: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """The given servers, or the system's (``/etc/resolv.conf``)."""
    if nameservers:
        return list(nameservers)
    system = dns.resolver.Resolver()
    return [(str(ns), system.port) for ns in system.nameservers]


async def _ask(servers: Sequence[tuple[str, int]], limit: asyncio.Semaphore, name: str, timeout: float) -> Raw:
    """One A question: each server in turn (2 s per try) until an answer or ``timeout``; SERVFAIL or
    REFUSED from every server ends it at once, as a resolver would."""
    loop = asyncio.get_running_loop()
    async with limit:
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            failures = []
            for address, port in servers:
                left = deadline - loop.time()
                if left <= 0:
                    break
                query = dns.message.make_query(name, "A")
                try:
                    reply = await dns.asyncquery.udp(query, address, timeout=min(2.0, left), port=port)
                    if reply.flags & dns.flags.TC:
                        reply = await dns.asyncquery.tcp(query, address, timeout=max(0.1, deadline - loop.time()),
                                                         port=port)
                except dns.exception.Timeout:
                    continue
                except (OSError, dns.exception.DNSException) as exc:
                    failures.append(type(exc).__name__)
                    continue
                rcode = reply.rcode()
                if rcode == dns.rcode.NXDOMAIN:
                    return Raw(nxdomain=True)
                if rcode == dns.rcode.NOERROR:
                    return Raw(tuple(sorted(r.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A
                                            for r in rrset)))
                failures.append(dns.rcode.to_text(rcode))
            if failures and len(failures) == len(servers):
                return Raw(error=f"the resolver failed ({', '.join(sorted(set(failures)))})")
    return Raw(error=f"no answer within {timeout:g}s")


async def _ask_all(queries: Sequence[Query], nameservers: Sequence[tuple[str, int]], timeout: float,
                   concurrency: int, dqs_key: Optional[str]) -> list[Raw]:
    servers = _servers(nameservers)
    limit = asyncio.Semaphore(max(1, concurrency))
    return list(await asyncio.gather(*(_ask(servers, limit, q.bl.query_name(q.subject, dqs_key), timeout)
                                       for q in queries)))


def ask(queries: Sequence[Query], *, nameservers: Sequence[tuple[str, int]] = (), timeout: float = 5.0,
        concurrency: int = 32, dqs_key: Optional[str] = None) -> list[Raw]:
    """Every query's raw answer, in order; at most ``concurrency`` questions are open at once."""
    coro = _ask_all(queries, nameservers, timeout, concurrency, dqs_key)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside an event loop (an async caller): run ours on a thread of its own.
    out: list[list[Raw]] = []
    worker = threading.Thread(target=lambda: out.append(asyncio.run(coro)))
    worker.start()
    worker.join()
    return out[0]


def queries_for(ips: Iterable[str], domains: Iterable[str], ip_lists: Sequence[Dnsbl] = IP_LISTS,
                domain_lists: Sequence[Dnsbl] = DOMAIN_LISTS) -> list[Query]:
    return ([Query(bl, ip) for ip in ips for bl in ip_lists]
            + [Query(bl, d) for d in domains for bl in domain_lists])


def observation(q: Query, raw: Raw, subject: str, dqs: bool = False) -> Observation:
    """The history entry of one answer; the zone is named without any DQS key."""
    v = verdict(q.bl, raw)
    zone = q.bl.dqs_zone if dqs and q.bl.dqs_zone else q.bl.zone
    data = {"list": q.bl.name, "zone": zone, "listed": v.listed, "codes": list(v.codes),
            "meanings": list(v.meanings), "gating": q.bl.gating}
    if v.listed:
        data["delist"] = q.bl.delist_url(q.subject)
    return Observation(q.bl.check, subject, v.status, v.summary, SOURCE, data=data)


def unknown_ip(bl: Dnsbl, subject: str, why: str) -> Observation:
    return Observation(bl.check, subject, UNKNOWN, f"{bl.name}: {why}", SOURCE,
                       data={"list": bl.name, "zone": bl.zone, "listed": False, "codes": [], "meanings": [],
                             "gating": bl.gating})


def check_blacklists(ctx) -> list[Observation]:
    """Every known sending IP against :data:`IP_LISTS`, every domain against :data:`DOMAIN_LISTS`.

    ``ctx`` is a :class:`coldmail.checks.context.CheckContext`; IPs whose address is unknown get an
    ``unknown`` observation per list.
    """
    known = [ip for ip in ctx.targets.ips if ip.address]
    subjects = {ip.address: ip.subject for ip in known}
    subjects.update({d.name: d.subject for d in ctx.targets.domains})
    queries = queries_for([ip.address for ip in known], [d.name for d in ctx.targets.domains])
    dqs_key = ctx.dqs_key
    raws = ask(queries, nameservers=ctx.dns.recursive_servers, timeout=ctx.timeout,
               concurrency=ctx.stack.checks.concurrency, dqs_key=dqs_key)
    out = [observation(q, raw, subjects[q.subject], dqs=bool(dqs_key)) for q, raw in zip(queries, raws)]
    for ip in ctx.targets.ips:
        if not ip.address:
            out += [unknown_ip(bl, ip.subject, f"the address of {ip.label} is unknown (no stack outputs)")
                    for bl in IP_LISTS]
    return out

