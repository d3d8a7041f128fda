"""DNS record values for a mail domain, as plain data (no Pulumi), and the parsers for them.

``MailDomain`` applies :func:`domain_records` over Outputs, ``coldmail plan`` and the checks call it
with concrete values, and the policy pack uses the value helpers and parsers: every consumer renders and
reads records through this one module. TXT contents are written exactly as Cloudflare stores and
returns them (quoted 255-byte strings joined by one space): the provider compares content literally,
so any other form shows a diff after every refresh.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from .names import registrable_domain
from .types import Domain, StackConfig

GOOGLE_VERIFICATION_PREFIX = "google-site-verification="

#: Every record coldmail writes carries this Cloudflare comment (tags need a paid plan).
COMMENT = "managed by coldmail"
MX_PRIORITY = 10
#: RFC 7208 §4.6.4: more DNS-querying terms than this is a permerror at the receiver.
SPF_MAX_LOOKUPS = 10
_TXT_CHUNK = 255
# Terms of an SPF record that make the receiver query DNS (RFC 7208 §4.6.4).
_SPF_LOOKUP_TERM = re.compile(r"^[+\-~?]?(include:|a$|a:|a/|mx$|mx:|mx/|ptr$|ptr:|exists:)|^redirect=", re.I)

#: Client-discovery SRV records (RFC 6186, RFC 8314) plus the one Outlook uses, all to the mail host.
SRV_SERVICES: tuple[tuple[str, int], ...] = (
    ("_submission._tcp", 587),
    ("_submissions._tcp", 465),
    ("_imaps._tcp", 993),
    ("_autodiscover._tcp", 443),
)


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

def cloudflare_txt(value: str) -> str:
    """``value`` in the exact form Cloudflare returns TXT content: quoted 255-byte strings, one space apart."""
    raw = value.encode("utf-8")
    chunks = [raw[i:i + _TXT_CHUNK] for i in range(0, len(raw), _TXT_CHUNK)] or [b""]
    quoted = []
    for chunk in chunks:
        text = chunk.decode("utf-8")
        quoted.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(quoted)


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ALL_QUOTED = re.compile(r'\s*(?:"(?:[^"\\]|\\.)*"\s*)+')


def txt_value(content: str) -> str:
    """The value a resolver hands out for TXT ``content``: quoted strings unescaped and concatenated.

    Content that is not entirely quoted strings is returned as it is.
    """
    if not _ALL_QUOTED.fullmatch(content):
        return content
    return "".join(re.sub(r"\\(.)", r"\1", p) for p in _QUOTED.findall(content))


def spf_value(ipv4s: Iterable[str], ipv6s: Iterable[str] = (), all: str = "-all") -> str:
    """``v=spf1`` listing exactly these sending addresses; ``ip4``/``ip6`` terms cost no DNS lookup."""
    if all not in ("-all", "~all"):
        raise ValueError(f"SPF must end with -all or ~all, got {all!r}")
    terms = ["v=spf1"]
    seen: set[str] = set()
    for ip in ipv4s:
        addr = ipaddress.IPv4Address(ip).compressed
        if addr not in seen:
            seen.add(addr)
            terms.append(f"ip4:{addr}")
    for ip in ipv6s:
        addr = ipaddress.IPv6Address(ip).compressed
        if addr not in seen:
            seen.add(addr)
            terms.append(f"ip6:{addr}")
    if len(terms) == 1:
        raise ValueError("an SPF record needs at least one sending IP")
    terms.append(all)
    return " ".join(terms)


def spf_lookup_terms(value: str) -> int:
    """How many terms of an SPF record cost the receiver a DNS lookup (at most 10 are allowed)."""
    return sum(1 for term in value.split()[1:] if _SPF_LOOKUP_TERM.match(term))


def spf_terms(value: str) -> list[tuple[str, str]]:
    """``(mechanism, argument)`` pairs of an SPF record, qualifiers dropped, names lowercased.

    A CIDR-only argument keeps its slash (``a/24`` gives ``("a", "/24")``).
    """
    terms = []
    for raw in value.split()[1:]:
        term = raw.lstrip("+-~?")
        m = re.match(r"^([a-zA-Z0-9_.-]+)([:=/](.*))?$", term)
        if m:
            terms.append((m.group(1).lower(), (m.group(3) or "") if m.group(2) != "/" else m.group(2) + m.group(3)))
    return terms


def spf_covers(value: str, ip: str) -> bool:
    """True when an ``ip4:``/``ip6:`` term of the SPF record authorises ``ip`` (CIDRs included)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for mech, arg in spf_terms(value):
        if mech in ("ip4", "ip6") and arg:
            try:
                if addr in ipaddress.ip_network(arg, strict=False):
                    return True
            except ValueError:
                continue
    return False


def is_spf(value: str) -> bool:
    return "v=spf1" in value.lower()


def spf_ips(value: str) -> set[str]:
    """The ``ip4:``/``ip6:`` addresses an SPF record authorises (no CIDR expansion)."""
    out = set()
    for term in value.split()[1:]:
        t = term.lstrip("+")
        if t.startswith(("ip4:", "ip6:")):
            out.add(t[4:])
    return out


def dmarc_value(phase: str, rua: str, ruf: Optional[str] = None) -> str:
    """The ``_dmarc`` policy for a phase of the none → quarantine → reject progression."""
    if phase not in ("none", "quarantine", "reject"):
        raise ValueError(f"DMARC phase must be none, quarantine or reject, got {phase!r}")
    parts = ["v=DMARC1", f"p={phase}", f"rua=mailto:{rua.removeprefix('mailto:')}"]
    if ruf:
        # fo=1 asks for a failure report when either SPF or DKIM fails, not only when both do.
        parts += [f"ruf=mailto:{ruf.removeprefix('mailto:')}", "fo=1"]
    return "; ".join(parts)


def dmarc_tags(value: str) -> dict[str, str]:
    """The tags of a DMARC record, names lowercased (``{"v": "DMARC1", "p": "none", ...}``)."""
    return {k.strip().lower(): v.strip() for k, _, v in (t.partition("=") for t in value.split(";")) if k.strip()}


#: How long a policy must have been served in ``testing`` before ``enforce`` (RFC 8461 §5 asks senders to
#: report under ``testing`` first): two weeks of daily TLS reports from the big receivers.
MTA_STS_MIN_TESTING_DAYS = 14
MTA_STS_MODES = ("testing", "enforce", "none")


def mta_sts_policy(mode: str, mx_hosts: Sequence[str], max_age: int = 604800) -> str:
    """The body Mailcow's ``mta-sts.php`` serves at ``https://mta-sts.<domain>/.well-known/mta-sts.txt``.

    Mailcow writes LF line ends and ``max_age`` before the ``mx`` lines (docs/mailcow-api.md §11); RFC 8461
    §3.2 accepts both, and the id below is derived from exactly this text.
    """
    lines = ["version: STSv1", f"mode: {mode}", f"max_age: {max_age}"] + [f"mx: {h}" for h in mx_hosts]
    return "\n".join(lines) + "\n"


def parse_mta_sts_policy(body: str) -> dict[str, Any]:
    """``{"version", "mode", "max_age", "mx": [...]}`` of a served policy (unknown keys kept as strings)."""
    out: dict[str, Any] = {"mx": []}
    for line in body.replace("\r\n", "\n").split("\n"):
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "mx":
            out["mx"].append(value)
        elif key == "max_age":
            out[key] = int(value) if value.isdigit() else value
        else:
            out[key] = value
    return out


def mta_sts_policy_id(policy: str) -> str:
    """A policy id that changes exactly when the policy body does (1-32 alphanumerics)."""
    return hashlib.sha256(policy.encode()).hexdigest()[:20]


def mta_sts_enforce_problem(mode: str, testing_since: Optional[_dt.date], today: _dt.date) -> Optional[str]:
    """Why ``mode`` may not be served yet, or None: ``enforce`` only after :data:`MTA_STS_MIN_TESTING_DAYS` of
    ``testing``. A sender that caches an enforced policy refuses to deliver over any TLS failure for
    ``max_age``, so a broken certificate or MX list must show up in TLS reports under ``testing`` first."""
    if mode != "enforce":
        return None
    if testing_since is None:
        return ("enforce needs the policy served in testing first, and coldmail:dns.mtaStsTestingSince does not "
                "say since when")
    days = (today - testing_since).days
    if days < MTA_STS_MIN_TESTING_DAYS:
        return (f"the policy has been in testing for {max(days, 0)} days (since {testing_since.isoformat()}), "
                f"fewer than the {MTA_STS_MIN_TESTING_DAYS} enforce needs")
    return None


def mta_sts_value(policy_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9]{1,32}", policy_id):
        raise ValueError(f"MTA-STS id must be 1-32 letters or digits, got {policy_id!r}")
    return f"v=STSv1; id={policy_id}"


def tls_rpt_value(rua: str) -> str:
    return f"v=TLSRPTv1; rua=mailto:{rua.removeprefix('mailto:')}"


def dkim_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def dkim_value(dkim_txt: str) -> str:
    """Mailcow's ``dkim_txt`` as one unquoted string, whatever form it came in.

    With ``SPLIT_DKIM_255=y`` Mailcow hands it out already quoted and split (``"v=DKIM1;…" "…"``); quoting
    that again for Cloudflare would publish the quotes inside the key, and verification fails.
    """
    return txt_value(dkim_txt.strip())


def postmaster_value(token: str) -> str:
    return f"{GOOGLE_VERIFICATION_PREFIX}{token}"


# --------------------------------------------------------------------------------------------
# A domain's records
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DnsRecordSpec:
    """One record as Cloudflare takes it: FQDN ``name`` without trailing dot, never proxied."""

    key: str
    """Stable per-domain id of the record (``mx``, ``spf``, ``dkim``…): the resource name suffix."""
    name: str
    type: str
    content: Optional[str] = None
    priority: Optional[int] = None
    data: Optional[Mapping[str, Any]] = field(default=None, hash=False)
    zone: Optional[str] = None
    """The Cloudflare zone holding the record when it is not the domain's own zone."""

    @property
    def value(self) -> Optional[str]:
        """The value a resolver returns (TXT strings concatenated)."""
        return txt_value(self.content) if self.type == "TXT" and self.content is not None else self.content

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "name": self.name, "type": self.type}
        if self.content is not None:
            out["content"] = self.content
        if self.priority is not None:
            out["priority"] = self.priority
        if self.data is not None:
            out["data"] = dict(self.data)
        if self.zone is not None:
            out["zone"] = self.zone
        return out


@dataclass(frozen=True)
class SendingAddresses:
    """The addresses a domain's mail leaves from, and so exactly what its SPF must list."""

    ipv4s: tuple[str, ...]
    ipv6s: tuple[str, ...] = ()
    server_ipv4: Optional[str] = field(default=None, compare=False)
    """Not a sending address (so not compared): the server's primary IPv4, where Mailcow serves HTTPS (``mta-sts.<domain>``); the first of ``ipv4s``
    when not given."""

    @property
    def web_ipv4(self) -> str:
        return self.server_ipv4 or self.ipv4s[0]


def sends_over_ipv6(settings: StackConfig, domain: Domain) -> bool:
    """Mailcow itself sends over IPv6 to IPv6 MXs; the floating-IP relays are IPv4 only."""
    return domain.ip == 0 and settings.server(domain.server).ipv6


def sending_addresses(settings: StackConfig, domain: Domain, server_ipv4s: Sequence[str],
                      server_ipv6: Optional[str] = None) -> SendingAddresses:
    """Pick the domain's sending addresses from its server's (index 0 = primary, 1..N floating)."""
    ipv4 = server_ipv4s[domain.ip]
    ipv6s = (server_ipv6,) if server_ipv6 and sends_over_ipv6(settings, domain) else ()
    return SendingAddresses((ipv4,), ipv6s, server_ipv4s[0])


def managed_zones(settings: StackConfig) -> dict[str, Optional[str]]:
    """Every Cloudflare zone the stack writes to, with its configured zone id (or None: look it up)."""
    zones: dict[str, Optional[str]] = {}
    for item in (*settings.servers, *settings.domains):
        if item.zone and not zones.get(item.zone):
            zones[item.zone] = item.zone_id
    return zones


def zone_holding(name: str, zones: Mapping[str, Any]) -> Optional[str]:
    """The longest of ``zones`` that holds ``name``, or None: one lookup per label, not a scan of the zones."""
    labels = name.split(".")
    for i in range(len(labels) - 1):
        candidate = ".".join(labels[i:])
        if candidate in zones:
            return candidate
    return None


def report_authorizations(settings: StackConfig) -> list[DnsRecordSpec]:
    """The RFC 7489 §7.1 records that let the domains' DMARC reports go to a mailbox in another domain.

    Without one, receivers drop the ``rua``/``ruf`` destinations. One wildcard ``*._report._dmarc.<rua domain>``
    per report domain authorises every domain at once (RFC 7489 §7.1 allows it), so a zone holds one such
    record however many domains the stack has. Only written in a zone the stack manages anyway; an external
    DMARC service publishes its own.
    """
    out = []
    for address in dict.fromkeys(a for a in (settings.dmarc.rua, settings.dmarc.ruf) if a):
        rua_domain = address.rsplit("@", 1)[-1].lower()
        zone = zone_holding(rua_domain, managed_zones(settings))
        org = registrable_domain(rua_domain) or rua_domain
        if zone is None or all((registrable_domain(d.name) or d.name) == org for d in settings.domains):
            continue
        spec = DnsRecordSpec(f"report-auth-{len(out)}", f"*._report._dmarc.{rua_domain}", "TXT",
                             cloudflare_txt("v=DMARC1"), zone=zone)
        if spec.name not in {o.name for o in out}:
            out.append(spec)
    return out


def report_domain_sends(settings: StackConfig) -> bool:
    """True when the report mailboxes' domain is also a sending domain, whose records it then shares."""
    rd = settings.report_domain
    return rd is not None and any(d.name == rd.name for d in settings.domains)


def report_zone_records(settings: StackConfig, sending: SendingAddresses) -> list[DnsRecordSpec]:
    """The report domain's own MX, SPF and DMARC, given its server's addresses; none when the stack makes no
    report mailbox or the report domain is a sending domain (which has all three already)."""
    rd = settings.report_domain
    if rd is None or report_domain_sends(settings):
        return []
    host = settings.server(rd.server).hostname
    # The report domain sends nothing but Mailcow's own notices (quota warnings), from the primary address.
    spf = spf_value(sending.ipv4s[:1], sending.ipv6s, settings.dns.spf_all)
    return [
        DnsRecordSpec("report-mx", rd.name, "MX", host, priority=MX_PRIORITY, zone=rd.zone),
        DnsRecordSpec("report-spf", rd.name, "TXT", cloudflare_txt(spf), zone=rd.zone),
        DnsRecordSpec("report-dmarc", f"_dmarc.{rd.name}", "TXT",
                      cloudflare_txt(dmarc_value(settings.dmarc.phase, settings.dmarc.rua, settings.dmarc.ruf)),
                      zone=rd.zone),
    ]


def host_record_count(settings: StackConfig, server_name: str) -> int:
    """The forward records a server writes in its zone: an A per PTR name (hostname included), its AAAA."""
    s = settings.server(server_name)
    return 1 + len(s.ptr_names) + (1 if s.ipv6 else 0)


def zone_record_counts(settings: StackConfig) -> dict[str, int]:
    """How many records the whole stack (every configured domain, not only a rollout's batch) writes per zone."""
    counts: dict[str, int] = {}

    def add(zone: str, n: int = 1) -> None:
        counts[zone] = counts.get(zone, 0) + n

    for s in settings.servers:
        add(s.zone, host_record_count(settings, s.name))
    placeholder = SendingAddresses(("192.0.2.1",))
    for spec in report_zone_records(settings, placeholder) + report_authorizations(settings):
        add(spec.zone or "")
    for d in settings.domains:
        for spec in domain_records(settings, d, placeholder, ""):
            add(spec.zone or d.zone)
    return dict(sorted(counts.items()))


def mta_sts_policy_for(settings: StackConfig, domain: Domain) -> str:
    return mta_sts_policy(settings.dns.mta_sts_mode, [settings.server(domain.server).hostname],
                          settings.dns.mta_sts_max_age)


def domain_records(settings: StackConfig, domain: Domain, sending: SendingAddresses,
                   dkim_txt: str) -> list[DnsRecordSpec]:
    """Every Cloudflare record of one mail domain, given its sending IPs and Mailcow's DKIM TXT value.

    Host records (A/AAAA of the mail hostname and of each PTR name) are the server's, not listed here.
    A record whose ``zone`` is set lives in that zone instead of the domain's.
    """
    d = domain.name
    host = settings.server(domain.server).hostname
    dns = settings.dns
    spf = spf_value(sending.ipv4s, sending.ipv6s, dns.spf_all)
    records = [
        DnsRecordSpec("mx", d, "MX", host, priority=MX_PRIORITY),
        DnsRecordSpec("spf", d, "TXT", cloudflare_txt(spf)),
        DnsRecordSpec("dkim", dkim_name(settings.dkim.selector, d), "TXT", cloudflare_txt(dkim_value(dkim_txt))),
        DnsRecordSpec("dmarc", f"_dmarc.{d}", "TXT",
                      cloudflare_txt(dmarc_value(domain.dmarc_phase, settings.dmarc.rua, settings.dmarc.ruf))),
    ]
    if dns.autoconfig:
        records += [
            DnsRecordSpec("autoconfig", f"autoconfig.{d}", "CNAME", host),
            DnsRecordSpec("autodiscover", f"autodiscover.{d}", "CNAME", host),
        ]
        for service, port in SRV_SERVICES:
            key = "srv-" + service.split(".", 1)[0].lstrip("_")
            # TF #6651: SRV priority is only honoured inside `data`.
            records.append(DnsRecordSpec(key, f"{service}.{d}", "SRV",
                                         data={"priority": 0, "weight": 1, "port": port, "target": host}))
    if dns.mta_sts:
        policy_id = mta_sts_policy_id(mta_sts_policy_for(settings, domain))
        records += [
            DnsRecordSpec("mta-sts", f"_mta-sts.{d}", "TXT", cloudflare_txt(mta_sts_value(policy_id))),
            # The address Mailcow serves HTTPS on: its ACME container adds mta-sts.<domain> to the certificate
            # only once the name resolves to the server (never proxied: that would resolve to Cloudflare).
            DnsRecordSpec("mta-sts-host", f"mta-sts.{d}", "A", sending.web_ipv4),
        ]
    if dns.tls_rpt:
        rua = dns.tls_rpt_rua or settings.dmarc.rua
        records.append(DnsRecordSpec("tls-rpt", f"_smtp._tls.{d}", "TXT", cloudflare_txt(tls_rpt_value(rua))))
    if domain.postmaster_token:
        records.append(DnsRecordSpec("postmaster", d, "TXT", cloudflare_txt(postmaster_value(domain.postmaster_token))))
    return records
