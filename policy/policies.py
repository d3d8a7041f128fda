"""coldmail's CrossGuard rules: the mistakes that silently burn a sending domain, caught at preview.

One ``<subject>_<rule>_validator`` per rule, each wrapped in a kebab-case policy. Resource policies read
*inputs*, stack policies read *outputs* plus the resource tree. Only values known at preview time are
judged: an unknown (a cloud-assigned IP, an ID) is skipped, never reported, so a first preview of a
new stack is quiet and the next one judges the real values.

Python has no ``isType`` for policy resources, so rules compare type tokens (the SDK's own examples do).
"""

from __future__ import annotations

import datetime as _dt
import functools
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional
from urllib.parse import urlparse

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as _proxy

from coldmail.model import tokens
from coldmail.model.catalogue import MIN_MEMORY_GB, RECOMMENDED_MEMORY_GB, SERVER_TYPES
from coldmail.model.ports import INTERNAL as INTERNAL_PORTS
from coldmail.model.ports import MAIL_REQUIRED as MAIL_PORTS
from coldmail.model.records import SPF_MAX_LOOKUPS, is_spf, spf_covers, spf_lookup_terms, txt_value
from coldmail.model.secrets import SECRET_NAME

PACK_NAME = "coldmail"

DNS_RECORD = tokens.DNS_RECORD
HCLOUD_SERVER = tokens.HCLOUD_SERVER
FLOATING_IP = tokens.FLOATING_IP
PRIMARY_IP = tokens.PRIMARY_IP
RDNS = tokens.RDNS
FIREWALL = tokens.FIREWALL
DYNAMIC_PREFIX = tokens.DYNAMIC_PREFIX
ANONYMOUS_DYNAMIC = tokens.ANONYMOUS_DYNAMIC
MAILCOW_DOMAIN = tokens.MAILCOW_DOMAIN
MAILCOW_DKIM = tokens.MAILCOW_DKIM
MAILCOW_MAILBOX_SET = tokens.MAILCOW_MAILBOX_SET
MAILCOW_RELAYHOST = tokens.MAILCOW_RELAYHOST
MAIL_DOMAIN_COMPONENT = tokens.MAIL_DOMAIN
DEFAULT_MIN_DKIM_BITS = 2048
DEFAULT_MAX_MAILBOXES_PER_DOMAIN = 5
DEFAULT_MAX_PER_MAILBOX_PER_DAY = 40
#: First labels of names that are mail hosts: their A/AAAA/CNAME must resolve to the mail server itself.
# PTR names such as mx1-ip2.<zone> match too; any other proxied host record of a sending IP is caught
# by fcrdns-complete, which wants an unproxied A record for every PTR name.
DEFAULT_MAIL_HOST_PATTERN = r"^(mx|mail|smtp|imap|pop3?|autoconfig|autodiscover|mta-sts)[a-z0-9-]*\."
_SENSITIVE_KEY = SECRET_NAME
_WORLD = ("0.0.0.0/0", "::/0")


# --------------------------------------------------------------------------------------------
# Reading what the engine sends: proxies, unknowns and secrets
# --------------------------------------------------------------------------------------------

class _Unknown:
    """A value that is computed during the update and so cannot be judged at preview."""

    _instance: Optional["_Unknown"] = None

    def __new__(cls) -> "_Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()
_UNKNOWN_SENTINELS = frozenset((
    _proxy.UNKNOWN_BOOLEAN_VALUE, _proxy.UNKNOWN_NUMBER_VALUE, _proxy.UNKNOWN_STRING_VALUE,
    _proxy.UNKNOWN_ARRAY_VALUE, _proxy.UNKNOWN_ASSET_VALUE, _proxy.UNKNOWN_ARCHIVE_VALUE,
    _proxy.UNKNOWN_OBJECT_VALUE))


def _get(container: Any, key: Any) -> Any:
    # The SDK's proxies raise on reading an unknown, and the SDK turns an escaped UnknownValueError
    # into a "can't run policy" warning on every preview; reading through this keeps rules quiet.
    try:
        return container[key]
    except _proxy.UnknownValueError:
        return UNKNOWN


def plain(value: Any, reveal: bool = True) -> Any:
    """``value`` as plain dicts and lists, unknowns as :data:`UNKNOWN`.

    Secrets are unwrapped when ``reveal`` is true, else kept as :class:`pulumi_policy.Secret`.
    """
    if isinstance(value, Secret):
        inner = plain(value.value, reveal)
        return inner if reveal else Secret(inner)
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {k: plain(_get(value, k), reveal) for k in list(value)}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [plain(_get(value, i), reveal) for i in range(len(value))]
    return value


def known(*values: Any) -> bool:
    """True when no value is missing or unknown."""
    return all(v is not None and v is not UNKNOWN for v in values)


def keep_secret_markers() -> None:
    """Make the SDK hand secret inputs to rules as :class:`pulumi_policy.Secret` instead of in clear.

    The engine sends secrets marked (``KeepSecrets``), but pulumi-policy 1.21's ``Analyze`` and
    ``AnalyzeStack`` strip the marker, so a rule cannot tell a secret password from a clear one.
    ``policy/__main__.py`` calls this before it serves the pack; every rule unwraps secrets it judges.
    """
    from pulumi_policy import deserialize as sdk_deserialize
    from pulumi_policy import policy as sdk_policy

    current = sdk_policy.deserialize_properties
    if getattr(current, "keeps_secret_markers", False):
        return

    def convert(prop: Any) -> Any:
        if isinstance(prop, list):
            return [convert(e) for e in prop]
        if isinstance(prop, dict):
            if prop.get(sdk_deserialize.SPECIAL_SIG_KEY) == sdk_deserialize.SPECIAL_SECRET_SIG:
                return Secret(convert(prop.get("value")))
            if sdk_deserialize.SPECIAL_SIG_KEY in prop:
                return sdk_deserialize._deserialize_property(prop)  # assets and archives
            return {k: convert(v) for k, v in prop.items()}
        return prop

    def deserialize_properties(props: dict, proxy_secrets: bool = False) -> dict:
        if proxy_secrets:  # remediation keeps the SDK's own secret-preserving proxies
            return current(props, True)
        return {k: convert(v) for k, v in props.items()}

    deserialize_properties.keeps_secret_markers = True  # type: ignore[attr-defined]
    sdk_policy.deserialize_properties = deserialize_properties


def _fqdn(name: Any) -> str:
    return str(name).strip().rstrip(".").lower() if isinstance(name, str) else ""


def _cfg(args: Any, key: str, default: Any) -> Any:
    cfg = args.get_config() or {}
    value = cfg.get(key)
    return default if value is None else value


def _txt(props: Mapping[str, Any]) -> Optional[str]:
    """The joined TXT value of a record, or None when it is no TXT or not known yet."""
    if str(props.get("type", "")).upper() != "TXT":
        return None
    content = props.get("content")
    return txt_value(content) if isinstance(content, str) else None


def _ports(spec: Any) -> Optional[tuple[int, int]]:
    """An hcloud firewall ``port`` (``"25"``, ``"9000-9100"``, ``"any"``) as an inclusive range."""
    if spec is None or spec is UNKNOWN:
        return None
    text = str(spec).strip().lower()
    if text in ("any", ""):
        return (1, 65535)
    lo, _, hi = text.partition("-")
    try:
        return (int(lo), int(hi or lo))
    except ValueError:
        return None


def _inbound_rules(props: Mapping[str, Any]) -> list[dict]:
    rules = props.get("rules")
    if not isinstance(rules, list):
        return []
    return [r for r in rules if isinstance(r, dict) and str(r.get("direction", "in")).lower() == "in"
            and str(r.get("protocol", "")).lower() in ("tcp", "udp")]


def _sources(rule: Mapping[str, Any]) -> list[str]:
    src = rule.get("sourceIps")
    return [str(s) for s in src if isinstance(s, str)] if isinstance(src, list) else []


# --------------------------------------------------------------------------------------------
# Resource policies (inputs)
# --------------------------------------------------------------------------------------------

def dns_mail_records_not_proxied_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Mail records behind Cloudflare's proxy resolve to Cloudflare, which neither takes SMTP nor has our PTR."""
    if args.resource_type != DNS_RECORD:
        return
    props = plain(args.props)
    if props.get("proxied") is not True:
        return
    rtype = str(props.get("type", "")).upper()
    name = _fqdn(props.get("name"))
    pattern = re.compile(_cfg(args, "mailHostPattern", DEFAULT_MAIL_HOST_PATTERN), re.IGNORECASE)
    first_label = name.split(".", 1)[0]
    is_mail = (rtype in ("MX", "TXT", "SRV")
               or (rtype in ("A", "AAAA", "CNAME") and bool(pattern.match(name + ".")))
               or first_label in ("_dmarc", "_domainkey", "_mta-sts", "_smtp") or "._domainkey." in name)
    if is_mail:
        report_violation(
            f"DNS record {args.name} ({rtype} {name}) has proxied=true: mail records behind Cloudflare's proxy "
            "resolve to Cloudflare, which takes no SMTP and breaks FCrDNS. Set proxied=false (DNS only).",
            args.urn)


def spf_record_valid_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """One SPF record must parse, end with a hard or soft fail and stay within RFC 7208's 10 lookups."""
    if args.resource_type != DNS_RECORD:
        return
    props = plain(args.props)
    text = _txt(props)
    if text is None or not is_spf(text):
        return
    name = _fqdn(props.get("name"))
    where = f"SPF record {args.name} ({name})"
    if not text.lower().startswith("v=spf1 ") and text.lower() != "v=spf1":
        report_violation(f"{where} is {text!r}: it must start with 'v=spf1 ' or receivers ignore it. "
                         "Put 'v=spf1' first.", args.urn)
        return
    last = text.split()[-1].lower()
    if last not in ("-all", "~all"):
        report_violation(f"{where} ends with {last!r}: end it with '-all' (or '~all' while testing) so other "
                         "hosts cannot send as this domain.", args.urn)
    lookups = spf_lookup_terms(text)
    if lookups > SPF_MAX_LOOKUPS:
        report_violation(f"{where} needs {lookups} DNS lookups (include, a, mx, ptr, exists, redirect), more than "
                         f"the {SPF_MAX_LOOKUPS} RFC 7208 allows (permerror). List sending IPs as ip4: terms, which "
                         "cost no lookup, and drop includes.", args.urn)


def dkim_key_size_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Keys under 2048 bits are weak (RFC 8301 recommends 2048) and some receivers discount them."""
    if args.resource_type != MAILCOW_DKIM:
        return
    props = plain(args.props)
    size = props.get("key_size")
    if not known(size):
        return
    minimum = int(_cfg(args, "minKeyBits", DEFAULT_MIN_DKIM_BITS))
    try:
        bits = int(size)
    except (TypeError, ValueError):
        bits = 0
    if bits < minimum:
        report_violation(
            f"DKIM key {args.name} for {props.get('domain')} has key_size {size}: at least {minimum} bits are "
            f"required. Set `coldmail:dkim.keySize: {max(minimum, 2048)}`.", args.urn)


def dmarc_enforced_after_warmup_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """``p=none`` only monitors; once warmup ends, receivers expect quarantine or reject."""
    if args.resource_type != DNS_RECORD:
        return
    props = plain(args.props)
    text = _txt(props)
    name = _fqdn(props.get("name"))
    if text is None or not name.startswith("_dmarc.") or "v=dmarc1" not in text.lower():
        return
    tags = {k.strip().lower(): v.strip() for k, _, v in (t.partition("=") for t in text.split(";")) if k.strip()}
    if tags.get("p", "").lower() != "none":
        return
    end = _cfg(args, "warmupEndDate", None)
    today = _cfg(args, "today", None) or _dt.date.today().isoformat()
    if not end or str(today) <= str(end):
        return
    domain = name[len("_dmarc."):]
    report_violation(
        f"DMARC record {args.name} ({name}) still has p=none although warmup ended on {end}: move to "
        f"`coldmail:domains[…].dmarcPhase: quarantine` (then reject) for {domain}.", args.urn)


def server_type_min_memory_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Mailcow with ClamAV and Solr does not run in 4 GB: it swaps, then services get OOM-killed."""
    _server_memory(args, report_violation, int(_cfg(args, "minMemoryGb", MIN_MEMORY_GB)), "at least")


def server_type_recommended_memory_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Below 8 GB Mailcow runs but has no headroom for growth or updates."""
    _server_memory(args, report_violation, int(_cfg(args, "recommendedMemoryGb", RECOMMENDED_MEMORY_GB)),
                   "a recommended")


def _server_memory(args: ResourceValidationArgs, report_violation: ReportViolation, minimum: int, word: str) -> None:
    if args.resource_type != HCLOUD_SERVER:
        return
    stype = plain(args.props).get("serverType")
    if not isinstance(stype, str) or stype.lower() not in SERVER_TYPES:
        return
    memory = SERVER_TYPES[stype.lower()][0]
    if memory < minimum:
        family = re.sub(r"\d+$", "", stype.lower())
        bigger = sorted((m, t) for t, (m, _) in SERVER_TYPES.items()
                        if m >= minimum and re.sub(r"\d+$", "", t) == family)
        hint = f" such as {bigger[0][1]} ({bigger[0][0]} GB)" if bigger else ""
        report_violation(
            f"Server {args.name} has serverType {stype} with {memory} GB RAM; Mailcow needs {word} {minimum} GB. "
            f"Set `coldmail:servers[…].serverType` to a bigger type{hint}.", args.urn)


def firewall_mail_ports_open_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Closed mail ports mean lost replies and bounces, and clients that cannot fetch mail."""
    if args.resource_type != FIREWALL:
        return
    props = plain(args.props)
    if not known(props.get("rules")) or not isinstance(props.get("rules"), list):
        return
    rules = _inbound_rules(props)
    if any(not known(r.get("port"), r.get("sourceIps")) for r in rules):
        return
    missing = []
    for port in MAIL_PORTS:
        if not any(str(r.get("protocol")).lower() == "tcp" and (rng := _ports(r.get("port")))
                   and rng[0] <= port <= rng[1] and any(s in _WORLD for s in _sources(r)) for r in rules):
            missing.append(port)
    if missing:
        report_violation(
            f"Firewall {args.name} does not open TCP {', '.join(map(str, missing))} from 0.0.0.0/0: mail to and "
            "from this server fails. Add inbound tcp rules for these ports with sourceIps 0.0.0.0/0 and ::/0.",
            args.urn)


def firewall_no_internal_ports_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Databases, Redis, rspamd's controller and the Docker API must never be reachable from outside."""
    if args.resource_type != FIREWALL:
        return
    forbidden = [int(p) for p in _cfg(args, "forbiddenPorts", list(INTERNAL_PORTS))]
    for rule in _inbound_rules(plain(args.props)):
        rng = _ports(rule.get("port"))
        if rng is None:
            continue
        hit = [p for p in forbidden if rng[0] <= p <= rng[1]]
        if hit:
            report_violation(
                f"Firewall {args.name} opens {rule.get('protocol')} port {rule.get('port')} inbound, which exposes "
                f"internal port(s) {', '.join(map(str, hit))} (database, Redis, rspamd, Docker API…). Remove the "
                "rule; reach these services over SSH instead.", args.urn)


def firewall_ssh_restricted_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """SSH open to the internet invites brute force; limit it to admin networks."""
    if args.resource_type != FIREWALL:
        return
    for rule in _inbound_rules(plain(args.props)):
        rng = _ports(rule.get("port"))
        if rng and rng[0] <= 22 <= rng[1] and str(rule.get("protocol")).lower() == "tcp":
            world = [s for s in _sources(rule) if s in _WORLD]
            if world:
                report_violation(
                    f"Firewall {args.name} allows SSH (port {rule.get('port')}) from {', '.join(world)}. "
                    "Restrict it with `coldmail:servers[…].adminCidrs` to your admin networks.", args.urn)


def mailbox_set_size_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Many mailboxes on one domain concentrate risk: one complaint spike burns them all."""
    if args.resource_type != MAILCOW_MAILBOX_SET:
        return
    props = plain(args.props)
    boxes = props.get("mailboxes")
    if not isinstance(boxes, list):
        return
    limit = int(_cfg(args, "maxMailboxesPerDomain", DEFAULT_MAX_MAILBOXES_PER_DOMAIN))
    if len(boxes) > limit:
        report_violation(
            f"Mailbox set {args.name} gives {props.get('domain')} {len(boxes)} mailboxes, more than the cold-email "
            f"maximum of {limit} per domain. Spread them over more domains, or raise `maxMailboxesPerDomain` in "
            "the policy config if you accept the risk.", args.urn)


def mailbox_daily_sends_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Past about 40 sends per mailbox per day, cold mail gets filtered no matter how warm the IP is."""
    if args.resource_type != MAILCOW_MAILBOX_SET:
        return
    props = plain(args.props)
    planned = props.get("daily_send_limit")
    if not known(planned) or isinstance(planned, bool):
        return
    cap = int(_cfg(args, "maxPerMailboxPerDay", DEFAULT_MAX_PER_MAILBOX_PER_DAY))
    try:
        value = float(planned)
    except (TypeError, ValueError):
        return
    if value > cap:
        report_violation(
            f"Mailbox set {args.name} plans {int(value)} sends per mailbox per day for {props.get('domain')}, above "
            f"the warmup cap of {cap}. Lower `coldmail:warmup.maxPerMailboxPerDay` to {cap} or less.", args.urn)


def dynamic_resource_type_token_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Without its own type token a dynamic resource escapes every policy and collides with its siblings."""
    if args.resource_type == ANONYMOUS_DYNAMIC:
        report_violation(
            f"Dynamic resource {args.name} has the anonymous type {ANONYMOUS_DYNAMIC}. Declare its class with "
            "`module=\"coldmail\", name=\"<Name>\"` so it becomes pulumi-python:dynamic/coldmail:<Name>.", args.urn)


def dynamic_inputs_no_clear_secrets_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Dynamic inputs are stored in state as given: a credential there must be a Pulumi secret, or absent."""
    if not args.resource_type.startswith(DYNAMIC_PREFIX):
        return
    props = plain(args.props, reveal=False)
    paths = list(_clear_secrets(props, sensitive=False, path=""))
    if paths:
        shown = ", ".join(f"`{p}`" for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        report_violation(
            f"Dynamic resource {args.name} has credentials in clear at input {shown}. Pass them with "
            "pulumi.Output.secret(...) (mailbox passwords), or read them in the provider's configure() "
            "(API keys, never an input).", args.urn)


def _clear_secrets(value: Any, sensitive: bool, path: str) -> Iterable[str]:
    if isinstance(value, Secret) or value is UNKNOWN:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k).startswith("__"):  # __provider: the pickled provider, secret by the SDK's default
                continue
            yield from _clear_secrets(v, sensitive or bool(_SENSITIVE_KEY.search(str(k))), f"{path}.{k}".lstrip("."))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _clear_secrets(v, sensitive, f"{path}[{i}]")
    elif sensitive and isinstance(value, str) and value:
        yield path


# --------------------------------------------------------------------------------------------
# Stack policies (outputs and the resource tree)
# --------------------------------------------------------------------------------------------

class _Stack:
    """The stack's resources with plain props, indexed the ways the rules look them up."""

    def __init__(self, resources: Iterable[PolicyResource]):
        self.items = [(r, plain(r.props)) for r in resources]
        self.by_urn = {r.urn: (r, p) for r, p in self.items}

    def of(self, typ: str) -> list[tuple[PolicyResource, dict]]:
        return [(r, p) for r, p in self.items if r.resource_type == typ]

    def records(self, rtype: str) -> list[tuple[PolicyResource, dict]]:
        return [(r, p) for r, p in self.of(DNS_RECORD) if str(p.get("type", "")).upper() == rtype]

    @staticmethod
    def depends_on(res: PolicyResource, keys: Iterable[str], target: PolicyResource) -> bool:
        deps = getattr(res, "property_dependencies", None) or {}
        return any(d.urn == target.urn for k in keys for d in deps.get(k, []) or [])

    @staticmethod
    def ancestors(res: PolicyResource) -> list[str]:
        out, seen, cur = [], set(), getattr(res, "parent", None)
        while cur is not None and cur.urn not in seen:
            out.append(cur.urn)
            seen.add(cur.urn)
            cur = getattr(cur, "parent", None)
        return out

    def record_fqdn(self, res: PolicyResource, props: dict) -> str:
        """A record's name as an FQDN; ``@`` and relative names resolve against the owning MailDomain."""
        name = _fqdn(props.get("name"))
        if name in ("@", "") or "." not in name:
            owner = next((self.owners[u] for u in self.ancestors(res) if u in self.owners), None)
            if owner:
                return owner if name in ("@", "") else f"{name}.{owner}"
        return name

    @functools.cached_property
    def owners(self) -> dict[str, str]:
        """URN of each MailDomain component (the MailcowDomain's ancestor) → its domain."""
        owners = {}
        for r, p in self.of(MAILCOW_DOMAIN):
            domain = _fqdn(p.get("domain"))
            for urn in self.ancestors(r):
                anc = self.by_urn.get(urn)
                if anc and anc[0].resource_type == MAIL_DOMAIN_COMPONENT:
                    owners[urn] = domain
                    break
            else:
                if getattr(r, "parent", None) is not None:
                    owners[r.parent.urn] = domain
        return owners

    @functools.cached_property
    def _txt_by_name(self) -> dict[str, list[tuple[PolicyResource, Optional[str]]]]:
        index: dict[str, list[tuple[PolicyResource, Optional[str]]]] = {}
        for r, p in self.records("TXT"):
            index.setdefault(self.record_fqdn(r, p), []).append((r, _txt(p)))
        return index

    def txt_at(self, fqdn: str) -> list[tuple[PolicyResource, Optional[str]]]:
        """TXT records at ``fqdn`` with their joined value (None while unknown)."""
        return self._txt_by_name.get(fqdn, [])

    def primary_ip(self, server: str, api_url: Any) -> tuple[Optional[PolicyResource], Any]:
        """The hcloud server behind a Mailcow server name, and its primary IPv4."""
        host = (urlparse(api_url).hostname or "") if isinstance(api_url, str) else ""
        servers = self.of(HCLOUD_SERVER)
        for r, p in servers:
            if p.get("name") in (server, host) and server:
                return r, p.get("ipv4Address")
        for r, p in servers:
            if server and (r.name == server or r.name.startswith(server + "-")):
                return r, p.get("ipv4Address")
        if len(servers) == 1:
            return servers[0][0], servers[0][1].get("ipv4Address")
        return None, None

    def relayhost_of(self, dom: PolicyResource, props: dict) -> Optional[tuple[PolicyResource, dict]]:
        rid = props.get("relayhost_id")
        for r, p in self.of(MAILCOW_RELAYHOST):
            if self.depends_on(dom, ("relayhost_id",), r):
                return r, p
            if known(rid) and str(p.get("relayhost_id")) == str(rid) and p.get("server") == props.get("server"):
                return r, p
        return None


def spf_single_record_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Two ``v=spf1`` records on one name are a permerror: receivers treat the domain as having no SPF."""
    stack = _Stack(args.resources)
    seen: dict[tuple[str, str], list[PolicyResource]] = {}
    for r, p in stack.records("TXT"):
        text = _txt(p)
        if text is not None and is_spf(text):
            zone = p.get("zoneId") if known(p.get("zoneId")) else ""
            seen.setdefault((str(zone), stack.record_fqdn(r, p)), []).append(r)
    for (_, name), recs in seen.items():
        if len(recs) > 1:
            names = ", ".join(r.name for r in recs)
            for r in recs[1:]:
                report_violation(
                    f"SPF: {name} has {len(recs)} v=spf1 TXT records ({names}); RFC 7208 makes that a permerror. "
                    f"Merge them into one record and delete {r.name}.", r.urn)


def spf_includes_sending_ip_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """A domain's SPF must authorize the IP its mail actually leaves from, or every message fails SPF."""
    stack = _Stack(args.resources)
    for dom, props in stack.of(MAILCOW_DOMAIN):
        domain = _fqdn(props.get("domain"))
        rid = props.get("relayhost_id")
        if not domain:
            continue
        if str(rid) in ("0", "") or rid is None:
            _, ip = stack.primary_ip(str(props.get("server") or ""), props.get("api_url"))
            via = "the server's primary IP (relayhost 0)"
        else:
            relay = stack.relayhost_of(dom, props)
            if relay is None:
                continue
            ip = relay[1].get("source_ip")
            via = f"relayhost {relay[0].name}"
        if not isinstance(ip, str) or not known(ip):
            continue
        spf = [(r, t) for r, t in stack.txt_at(domain) if t is None or is_spf(t)]
        if not spf:
            report_violation(
                f"Domain {domain} ({dom.name}) has no SPF record; its mail leaves from {ip} via {via}. Add a TXT "
                f"record at {domain}: 'v=spf1 ip4:{ip} -all'.", dom.urn)
            continue
        for rec, text in spf:
            if text is None or not known(text):
                continue
            if not spf_covers(text, ip):
                report_violation(
                    f"SPF record {rec.name} for {domain} is {text!r} and does not authorize {ip}, the IP its mail "
                    f"leaves from via {via}. Add 'ip{6 if ':' in ip else 4}:{ip}' before the 'all' term.", rec.urn)


def dmarc_record_present_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Gmail, Yahoo and Microsoft require DMARC for bulk senders, and rua= is how you learn it is broken."""
    stack = _Stack(args.resources)
    for dom, props in stack.of(MAILCOW_DOMAIN):
        domain = _fqdn(props.get("domain"))
        if not domain:
            continue
        found = stack.txt_at(f"_dmarc.{domain}")
        if not found:
            report_violation(
                f"Domain {domain} ({dom.name}) has no DMARC record. Add a TXT at _dmarc.{domain}: "
                "'v=DMARC1; p=none; rua=mailto:<reports address>' (coldmail:dmarc.rua).", dom.urn)
            continue
        for rec, text in found:
            if text is None:
                continue
            low = text.lower()
            if "v=dmarc1" not in low or "rua=" not in low:
                report_violation(
                    f"DMARC record {rec.name} for {domain} is {text!r}: it needs 'v=DMARC1' and an 'rua=mailto:' "
                    "address to receive aggregate reports. Set coldmail:dmarc.rua.", rec.urn)


def fcrdns_complete_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every sending IP needs a PTR whose name resolves back to it (FCrDNS), or Gmail and Yahoo reject."""
    stack = _Stack(args.resources)
    owners: list[tuple[PolicyResource, Any, str]] = []
    for r, p in stack.of(FLOATING_IP):
        if str(p.get("type", "ipv4")).lower() == "ipv4":
            owners.append((r, p.get("ipAddress"), "floating IP"))
    for r, p in stack.of(PRIMARY_IP):
        if str(p.get("type", "ipv4")).lower() == "ipv4":
            owners.append((r, p.get("ipAddress"), "primary IP"))
    primary_ips = {p.get("ipAddress") for _, p in stack.of(PRIMARY_IP) if known(p.get("ipAddress"))}
    for r, p in stack.of(HCLOUD_SERVER):
        if p.get("ipv4Address") not in primary_ips:
            owners.append((r, p.get("ipv4Address"), "primary IP of server"))
    rdns = stack.of(RDNS)
    a_records = stack.records("A")
    owner_keys = ("ipAddress", "floatingIpId", "serverId", "primaryIpId")
    for res, ip, what in owners:
        ip_known = isinstance(ip, str) and known(ip)
        ptrs = [(r, p) for r, p in rdns
                if (known(p.get("ipAddress")) and p.get("ipAddress") == ip)
                or (stack.depends_on(r, owner_keys, res) and (
                    not known(p.get("ipAddress")) or (not ip_known and ":" not in str(p.get("ipAddress")))))]
        if not ptrs:
            if ip_known or not rdns:
                report_violation(
                    f"FCrDNS: {what} {res.name} ({ip if ip_known else 'address pending'}) has no reverse DNS. Add an "
                    "hcloud.Rdns with its PTR name (coldmail:servers[…].ptrNames).", res.urn)
            continue
        for rr, rp in ptrs:
            ptr = _fqdn(rp.get("dnsPtr"))
            if not ptr or not known(rp.get("dnsPtr")):
                continue
            matches = [(r, p) for r, p in a_records if _fqdn(p.get("name")) == ptr]
            unproxied = [(r, p) for r, p in matches if p.get("proxied") is not True]
            if ip_known:
                good = [m for m in unproxied if m[1].get("content") == ip
                        or (not known(m[1].get("content")) and stack.depends_on(m[0], ("content",), res))]
            else:
                good = unproxied  # the address comes with the update; a record for the name is what we can check
            if good:
                continue
            shown = ", ".join(f"{r.name}={p.get('content')}{' proxied' if p.get('proxied') else ''}"
                              for r, p in matches) or "none"
            report_violation(
                f"FCrDNS: PTR of {what} {res.name} is {ptr}, but {ptr} has no unproxied A record to "
                f"{ip if ip_known else 'that IP'} (A records: {shown}). Add a Cloudflare A record {ptr} → the IP, "
                "DNS only.", rr.urn)


def relay_helo_matches_ptr_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """A HELO that differs from the IP's PTR name fails receivers' hostname checks and looks forged."""
    stack = _Stack(args.resources)
    rdns = stack.of(RDNS)
    for relay, p in stack.of(MAILCOW_RELAYHOST):
        ip, helo = p.get("source_ip"), p.get("helo_name")
        if not (isinstance(ip, str) and known(ip) and known(helo)):
            continue
        ptrs = [_fqdn(rp.get("dnsPtr")) for _, rp in rdns if rp.get("ipAddress") == ip and known(rp.get("dnsPtr"))]
        if not ptrs:
            report_violation(
                f"Relayhost {relay.name} sends from {ip}, which has no reverse DNS in this stack. Add an hcloud.Rdns "
                f"for {ip} named {helo}.", relay.urn)
        elif _fqdn(helo) not in ptrs:
            report_violation(
                f"Relayhost {relay.name} says HELO {helo!r} but {ip} has PTR {ptrs[0]!r}. Set the relay's HELO "
                f"(smtp_helo_name) to {ptrs[0]}.", relay.urn)


def mailbox_set_has_domain_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Mailboxes of a domain Mailcow does not manage fail to create, or outlive the domain's deletion."""
    stack = _Stack(args.resources)
    domains = {_fqdn(p.get("domain")) for _, p in stack.of(MAILCOW_DOMAIN) if known(p.get("domain"))}
    for r, p in stack.of(MAILCOW_MAILBOX_SET):
        domain = p.get("domain")
        if known(domain) and _fqdn(domain) not in domains:
            report_violation(
                f"Mailbox set {r.name} is for {domain}, which has no MailcowDomain in this stack. Create it through "
                "MailDomain (add the domain to coldmail:domains) so the domain exists before its mailboxes.", r.urn)


def mailbox_addresses_unique_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """One address managed by two sets flips between their settings on every update."""
    stack = _Stack(args.resources)
    first: dict[str, str] = {}
    for r, p in stack.of(MAILCOW_MAILBOX_SET):
        domain = p.get("domain")
        boxes = p.get("mailboxes")
        if not known(domain) or not isinstance(boxes, list):
            continue
        for box in boxes:
            lp = box.get("local_part") if isinstance(box, dict) else None
            if not isinstance(lp, str) or not known(lp):
                continue
            address = f"{lp}@{domain}".lower()
            if address in first:
                report_violation(
                    f"Mailbox {address} is in mailbox set {r.name} and also in {first[address]}. List every "
                    "address once: rename one local part or remove the duplicate domain entry.", r.urn)
            else:
                first[address] = r.name


# --------------------------------------------------------------------------------------------
# The policies
# --------------------------------------------------------------------------------------------

def _schema(**props: dict) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties=props)


mail_dns_not_proxied = ResourceValidationPolicy(
    name="mail-dns-not-proxied",
    description="Mail DNS records (MX, mail hosts, SPF, DKIM, DMARC, autoconfig, SRV) are DNS only, never proxied.",
    validate=dns_mail_records_not_proxied_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_schema(mailHostPattern={"type": "string", "default": DEFAULT_MAIL_HOST_PATTERN,
                                           "description": "Regex on an A/AAAA/CNAME name that marks a mail host."}))
spf_record_valid = ResourceValidationPolicy(
    name="spf-record-valid",
    description="An SPF record starts with v=spf1, ends with -all or ~all and needs at most 10 DNS lookups.",
    validate=spf_record_valid_validator, enforcement_level=EnforcementLevel.MANDATORY)
dkim_key_size = ResourceValidationPolicy(
    name="dkim-key-size",
    description="DKIM keys are at least 2048 bits.",
    validate=dkim_key_size_validator, enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_schema(minKeyBits={"type": "integer", "default": DEFAULT_MIN_DKIM_BITS, "minimum": 1024}))
dmarc_enforced_after_warmup = ResourceValidationPolicy(
    name="dmarc-enforced-after-warmup",
    description="DMARC p=none is used only during warmup.",
    validate=dmarc_enforced_after_warmup_validator, enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=_schema(warmupEndDate={"type": "string", "format": "date",
                                         "description": "Day the warmup ends (YYYY-MM-DD); unset means warming."},
                          today={"type": "string", "format": "date",
                                 "description": "Override of today's date, for reproducible runs."}))
server_type_min_memory = ResourceValidationPolicy(
    name="server-type-min-memory",
    description="The mail server type has at least 6 GB of RAM.",
    validate=server_type_min_memory_validator, enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_schema(minMemoryGb={"type": "integer", "default": MIN_MEMORY_GB, "minimum": 1}))
server_type_recommended_memory = ResourceValidationPolicy(
    name="server-type-recommended-memory",
    description="The mail server type has the recommended 8 GB of RAM.",
    validate=server_type_recommended_memory_validator, enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=_schema(recommendedMemoryGb={"type": "integer", "default": RECOMMENDED_MEMORY_GB, "minimum": 1}))
firewall_mail_ports_open = ResourceValidationPolicy(
    name="firewall-mail-ports-open",
    description="The firewall opens SMTP, submission and IMAP ports (25, 465, 587, 143, 993) to the world.",
    validate=firewall_mail_ports_open_validator, enforcement_level=EnforcementLevel.MANDATORY)
firewall_no_internal_ports = ResourceValidationPolicy(
    name="firewall-no-internal-ports",
    description="The firewall never opens database, cache, rspamd or Docker API ports.",
    validate=firewall_no_internal_ports_validator, enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_schema(forbiddenPorts={"type": "array", "items": {"type": "integer"},
                                          "default": list(INTERNAL_PORTS)}))
firewall_ssh_restricted = ResourceValidationPolicy(
    name="firewall-ssh-restricted",
    description="SSH is not open to 0.0.0.0/0 or ::/0.",
    validate=firewall_ssh_restricted_validator, enforcement_level=EnforcementLevel.ADVISORY)
mailboxes_per_domain = ResourceValidationPolicy(
    name="mailboxes-per-domain",
    description="A domain has no more mailboxes than the cold-email maximum.",
    validate=mailbox_set_size_validator, enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=_schema(maxMailboxesPerDomain={"type": "integer", "default": DEFAULT_MAX_MAILBOXES_PER_DOMAIN,
                                                 "minimum": 1}))
daily_sends_per_mailbox = ResourceValidationPolicy(
    name="daily-sends-per-mailbox",
    description="Planned daily sends per mailbox stay within the warmup plan's cap.",
    validate=mailbox_daily_sends_validator, enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_schema(maxPerMailboxPerDay={"type": "integer", "default": DEFAULT_MAX_PER_MAILBOX_PER_DAY,
                                               "minimum": 1}))
dynamic_resource_type_token = ResourceValidationPolicy(
    name="dynamic-resource-type-token",
    description="Every dynamic resource carries its own type token instead of pulumi-python:dynamic:Resource.",
    validate=dynamic_resource_type_token_validator, enforcement_level=EnforcementLevel.MANDATORY)
dynamic_inputs_no_clear_secrets = ResourceValidationPolicy(
    name="dynamic-inputs-no-clear-secrets",
    description="No dynamic resource input holds an API key, password, token or secret in clear.",
    validate=dynamic_inputs_no_clear_secrets_validator, enforcement_level=EnforcementLevel.MANDATORY)

spf_single_record = StackValidationPolicy(
    name="spf-single-record",
    description="Each DNS name has at most one SPF record.",
    validate=spf_single_record_validator, enforcement_level=EnforcementLevel.MANDATORY)
spf_includes_sending_ip = StackValidationPolicy(
    name="spf-includes-sending-ip",
    description="Each domain's SPF record authorizes the IP its mail leaves from.",
    validate=spf_includes_sending_ip_validator, enforcement_level=EnforcementLevel.MANDATORY)
dmarc_record_present = StackValidationPolicy(
    name="dmarc-record-present",
    description="Every sending domain has a DMARC record with an rua= report address.",
    validate=dmarc_record_present_validator, enforcement_level=EnforcementLevel.MANDATORY)
fcrdns_complete = StackValidationPolicy(
    name="fcrdns-complete",
    description="Every primary and floating IPv4 has a PTR whose name has an A record back to that IP.",
    validate=fcrdns_complete_validator, enforcement_level=EnforcementLevel.MANDATORY)
relay_helo_matches_ptr = StackValidationPolicy(
    name="relay-helo-matches-ptr",
    description="Each relay's HELO name equals the PTR name of the IP it sends from.",
    validate=relay_helo_matches_ptr_validator, enforcement_level=EnforcementLevel.MANDATORY)
mailbox_set_has_domain = StackValidationPolicy(
    name="mailbox-set-has-domain",
    description="Every mailbox set belongs to a Mailcow domain managed in the same stack.",
    validate=mailbox_set_has_domain_validator, enforcement_level=EnforcementLevel.MANDATORY)
mailbox_addresses_unique = StackValidationPolicy(
    name="mailbox-addresses-unique",
    description="No mailbox address appears in more than one mailbox set.",
    validate=mailbox_addresses_unique_validator, enforcement_level=EnforcementLevel.MANDATORY)

RESOURCE_POLICIES = [
    mail_dns_not_proxied, spf_record_valid, dkim_key_size, dmarc_enforced_after_warmup, server_type_min_memory,
    server_type_recommended_memory, firewall_mail_ports_open, firewall_no_internal_ports, firewall_ssh_restricted,
    mailboxes_per_domain, daily_sends_per_mailbox, dynamic_resource_type_token, dynamic_inputs_no_clear_secrets,
]
STACK_POLICIES = [
    spf_single_record, spf_includes_sending_ip, dmarc_record_present, fcrdns_complete, relay_helo_matches_ptr,
    mailbox_set_has_domain, mailbox_addresses_unique,
]
ALL = RESOURCE_POLICIES + STACK_POLICIES

#: The pack's defaults, as ``pulumi policy`` shows them; override per stack with ``--policy-pack-config``.
INITIAL_CONFIG: dict[str, Any] = {
    "mailboxes-per-domain": {"maxMailboxesPerDomain": DEFAULT_MAX_MAILBOXES_PER_DOMAIN},
    "daily-sends-per-mailbox": {"maxPerMailboxPerDay": DEFAULT_MAX_PER_MAILBOX_PER_DAY},
    "dkim-key-size": {"minKeyBits": DEFAULT_MIN_DKIM_BITS},
    "server-type-min-memory": {"minMemoryGb": MIN_MEMORY_GB},
}


# --------------------------------------------------------------------------------------------
# Running the pack without the engine (tests, `coldmail plan`)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Violation:
    policy: str
    level: EnforcementLevel
    message: str
    urn: Optional[str]


def _policy_config(policy: Any, config: Mapping[str, Any]) -> tuple[EnforcementLevel, dict[str, Any]]:
    entry = config.get(policy.name)
    if isinstance(entry, (EnforcementLevel, str)):
        entry = {"enforcementLevel": entry}
    entry = dict(entry or {})
    override = entry.pop("enforcementLevel", None)
    if isinstance(override, str):
        override = EnforcementLevel(override.lower())
    return override or policy.enforcement_level or EnforcementLevel.ADVISORY, entry


def evaluate(resource_args: Iterable[tuple[str, Mapping[str, Any], str, str]], stack_resources: list[PolicyResource],
             config: Optional[Mapping[str, Any]] = None, policies: Optional[list] = None) -> list[Violation]:
    """Every violation the pack reports, as the engine would: resource policies on each resource's
    inputs (``(type, props, urn, name)``), stack policies once over ``stack_resources`` (outputs).

    ``config`` is the ``--policy-pack-config`` shape: ``{policy: {"enforcementLevel": ..., key: value}}``.
    """
    config = dict(config or {})
    found: list[Violation] = []
    resource_args = list(resource_args)
    for policy in policies or ALL:
        level, props_cfg = _policy_config(policy, config)
        if level == EnforcementLevel.DISABLED:
            continue

        def report(msg: str, urn: Optional[str] = None, _p=policy, _l=level) -> None:
            found.append(Violation(_p.name, _l, msg, urn))

        if isinstance(policy, ResourceValidationPolicy):
            for typ, props, urn, name in resource_args:
                policy.validate(ResourceValidationArgs(typ, props, urn, name, default_options(), None, props_cfg),
                                report)
        else:
            policy.validate(StackValidationArgs(stack_resources, props_cfg), report)
    return found


def default_options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _mark_secrets(values: Mapping[str, Any], secret_keys: Iterable[str]) -> dict[str, Any]:
    keys = set(secret_keys)
    return {k: Secret(v) if k in keys else v for k, v in values.items()}


def from_recorded(resources: Iterable[Any]) -> tuple[list[tuple[str, dict, str, str]], list[PolicyResource]]:
    """Convert recorded registrations (:class:`coldmail.engine.Recorded`) into what the engine hands the
    pack: ``(type, inputs, urn, name)`` for resource policies and linked :class:`PolicyResource` outputs
    for stack policies. Secret inputs arrive marked, as :func:`keep_secret_markers` makes the SDK do."""
    resources = list(resources)
    resource_args = [(r.type, _mark_secrets(r.inputs, r.secret_inputs), r.urn, r.name) for r in resources]
    stack: dict[str, PolicyResource] = {}
    for r in resources:
        outputs = _mark_secrets(r.outputs, set(r.secret_inputs) | set(r.additional_secret_outputs))
        stack[r.urn] = PolicyResource(r.type, outputs, r.urn, r.name, default_options(), None, None, [], {})
    for r in resources:
        res = stack[r.urn]
        res.parent = stack.get(r.parent) if r.parent else None
        res.dependencies = [stack[u] for u in r.dependencies if u in stack]
        res.property_dependencies = {k: [stack[u] for u in v if u in stack] for k, v in r.property_dependencies.items()}
    return resource_args, list(stack.values())
