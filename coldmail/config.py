"""The stack config: one schema, parsed and validated in one pass.

Every consumer (``__main__.py``, ``coldmail plan``, the command's config edits, the checks and the
policy pack) goes through :func:`load`, so a config that passes here is the config that gets built.
Validation never stops at the first problem: every issue is collected with its config path and the
fix, and :class:`ConfigError` carries them all.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import ipaddress
import json
import re
import string
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

import idna
from publicsuffixlist import PublicSuffixList

NAMESPACE = "coldmail"

#: Hetzner Cloud server types and their memory and disk in GB. Mailcow needs 6 GiB + swap,
#: ClamAV is the part that pushes it past 4 GB.
SERVER_TYPES: dict[str, tuple[int, int]] = {
    "cx22": (4, 40), "cx32": (8, 80), "cx42": (16, 160), "cx52": (32, 320),
    "cx23": (4, 40), "cx33": (8, 80), "cx43": (16, 160), "cx53": (32, 320),
    "cpx11": (2, 40), "cpx21": (4, 80), "cpx31": (8, 160), "cpx41": (16, 240), "cpx51": (32, 360),
    "cpx12": (2, 40), "cpx22": (4, 80), "cpx32": (8, 160), "cpx42": (16, 320), "cpx52": (24, 480),
    "cpx62": (32, 640),
    "cax11": (4, 40), "cax21": (8, 80), "cax31": (16, 160), "cax41": (32, 320),
    "ccx13": (8, 80), "ccx23": (16, 160), "ccx33": (32, 240), "ccx43": (64, 360), "ccx53": (128, 600),
    "ccx63": (192, 960),
}
LOCATIONS = ("fsn1", "nbg1", "hel1", "ash", "hil", "sin")
IMAGES = ("debian-12", "ubuntu-22.04")
MIN_MEMORY_GB = 6
RECOMMENDED_MEMORY_GB = 8
DKIM_KEY_SIZES = (1024, 2048, 3072, 4096)
DMARC_PHASES = ("none", "quarantine", "reject")
SPF_ALL = ("-all", "~all")
PATTERN_FIELDS = ("first", "last", "f", "l", "n")

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SERVER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
# Mailcow lowercases local parts and routes the API path through a query string, so "+" breaks
# GET paths and is also Postfix's recipient delimiter (API-FACTS §1, §4).
_LOCAL_PART = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_MAILCOW_TAG = re.compile(r"^\d{4}-\d{2}[a-z]?$")
_SELECTOR = re.compile(r"^[A-Za-z0-9]+$")
_SSH_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]{16,}( .*)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_PSL = PublicSuffixList()


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mailbox:
    local_part: str
    name: str
    quota_mb: int
    domain: str

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain}"

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0] if self.name else ""

    @property
    def last_name(self) -> str:
        return self.name.split(" ", 1)[1] if " " in self.name else ""


@dataclass(frozen=True)
class SendingIp:
    """One outbound address of a server: index 0 is the primary IPv4, 1..N the floating IPs."""

    server: str
    index: int
    ptr_name: str

    @property
    def label(self) -> str:
        return f"{self.server}/ip{self.index}"


@dataclass(frozen=True)
class Server:
    name: str
    hostname: str
    zone: str
    zone_id: Optional[str]
    location: str
    server_type: str
    memory_gb: int
    disk_gb: int
    image: str
    floating_ips: int
    ptr_names: tuple[str, ...]
    ssh_public_key: str
    admin_cidrs: tuple[str, ...]
    timezone: str
    mailcow_version: str
    skip_clamd: bool
    ipv6: bool
    mailcow_tls_verify: bool
    mailcow_ca_bundle: Optional[str]
    api_key: Optional[str] = field(default=None, repr=False, compare=False)
    """The Mailcow API key, a secret: never log, print or pass it as a resource input."""
    api_key_is_set: bool = False

    @property
    def api_url(self) -> str:
        return f"https://{self.hostname}"

    @property
    def sending_ips(self) -> tuple[SendingIp, ...]:
        primary = SendingIp(self.name, 0, self.hostname)
        return (primary,) + tuple(SendingIp(self.name, i + 1, n) for i, n in enumerate(self.ptr_names))

    index: int = 0

    @property
    def api_key_config_path(self) -> str:
        """The ``--path`` under which ``pulumi config set --secret`` stores this server's API key."""
        return f"servers[{self.index}].mailcowApiKey"


@dataclass(frozen=True)
class Domain:
    name: str
    """The domain in punycode, as Mailcow stores it."""
    unicode_name: str
    server: str
    ip: int
    zone: str
    zone_id: Optional[str]
    mailboxes: tuple[Mailbox, ...]
    mailbox_quota_mb: int
    description: str
    dmarc_phase: str
    index: int

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(m.address for m in self.mailboxes)


@dataclass(frozen=True)
class DmarcConfig:
    phase: str
    rua: str
    ruf: Optional[str]


@dataclass(frozen=True)
class DkimConfig:
    selector: str
    key_size: int
    allow_weak_keys: bool


@dataclass(frozen=True)
class WarmupPlan:
    start_per_ip_per_day: int
    growth_factor: float
    period_days: int
    max_per_ip_per_day: int
    max_per_mailbox_per_day: int
    start_date: Optional[_dt.date]

    def per_ip_limit(self, day: int) -> int:
        """Planned sends per IP on ``day`` (0-based) of the warmup, capped."""
        steps = max(day, 0) // self.period_days
        return int(min(self.max_per_ip_per_day, round(self.start_per_ip_per_day * self.growth_factor ** steps)))

    def weeks_to_cap(self) -> int:
        days = 0
        while self.per_ip_limit(days) < self.max_per_ip_per_day and days < 3650:
            days += self.period_days
        return days // 7


@dataclass(frozen=True)
class DnsConfig:
    ttl: int
    spf_all: str
    mta_sts: bool
    mta_sts_mode: str
    tls_rpt: bool
    tls_rpt_rua: Optional[str]
    autoconfig: bool


@dataclass(frozen=True)
class Limits:
    max_mailboxes_per_domain: int
    mailbox_headroom: int


@dataclass(frozen=True)
class Rollout:
    """Cloudflare allows 1,200 API calls per 5 minutes: big stacks go out in batches of domains."""

    batch_size: int
    stage: int

    def deployed(self, domains: Iterable[Domain]) -> list[Domain]:
        ds = list(domains)
        if self.batch_size <= 0:
            return ds
        return ds[: self.batch_size * self.stage]


@dataclass(frozen=True)
class StackConfig:
    servers: tuple[Server, ...]
    domains: tuple[Domain, ...]
    dmarc: DmarcConfig
    dkim: DkimConfig
    warmup: WarmupPlan
    dns: DnsConfig
    limits: Limits
    rollout: Rollout
    ssh_private_key_is_set: bool = False

    def server(self, name: str) -> Server:
        for s in self.servers:
            if s.name == name:
                return s
        raise KeyError(name)

    def domains_on(self, server: str) -> list[Domain]:
        return [d for d in self.domains if d.server == server]

    def sending_ip(self, domain: Domain) -> SendingIp:
        return self.server(domain.server).sending_ips[domain.ip]

    def domain_sizing(self, domain: Domain) -> dict[str, int]:
        """Mailcow limits for a domain, derived from its mailbox set (API-FACTS §3: limits bite at add)."""
        planned = len(domain.mailboxes)
        max_mailboxes = planned + self.limits.mailbox_headroom
        biggest = max([m.quota_mb for m in domain.mailboxes] + [domain.mailbox_quota_mb])
        return {
            "max_mailboxes": max_mailboxes,
            "max_mailbox_quota_mb": biggest,
            "default_mailbox_quota_mb": domain.mailbox_quota_mb,
            "domain_quota_mb": max(biggest, max_mailboxes * biggest),
        }


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigIssue:
    path: str
    """Full config path, e.g. ``coldmail:domains[3].mailboxes.count``."""
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}. Fix: {self.fix}"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "fix": self.fix}


class ConfigError(ValueError):
    """The stack config is invalid; ``issues`` lists every problem found, each with its fix."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = list(issues)
        super().__init__(f"{len(self.issues)} config error(s):\n" + "\n".join(f"  - {i}" for i in self.issues))


# --------------------------------------------------------------------------------------------
# Reading raw config
# --------------------------------------------------------------------------------------------

TOP_LEVEL_KEYS = ("servers", "domains", "dmarc", "dkim", "warmup", "dns", "limits", "rollout", "names",
                  "sshPrivateKey")


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON strings; stack files give YAML objects."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def raw_from_pulumi(project: str = NAMESPACE) -> dict[str, Any]:
    """The ``coldmail:*`` keys of the running stack, decoded (secrets in clear: handle with care)."""
    import pulumi

    cfg = pulumi.Config(project)
    return {k: _decode(cfg.get(k)) for k in TOP_LEVEL_KEYS if cfg.get(k) is not None}


def raw_from_stack_file(path: str, project: str = NAMESPACE) -> dict[str, Any]:
    """The ``coldmail:*`` keys of a ``Pulumi.<stack>.yaml``. Encrypted values stay ``{"secure": …}``."""
    import yaml

    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    out: dict[str, Any] = {}
    for key, value in (doc.get("config") or {}).items():
        ns, _, name = key.partition(":")
        if ns == project and name:
            out[name] = value
    return out


def _is_secure(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"}


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

class _Reader:
    """Collects issues while reading one mapping; every getter returns a usable default on error."""

    def __init__(self, issues: list[ConfigIssue], path: str, data: Any, known: Iterable[str]):
        self.issues, self.path = issues, path
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.error("", f"must be a mapping, got {type(data).__name__}", "write it as `key: value` lines")
            data = {}
        self.data = data
        known = list(known)
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}"
                self.error(str(key), "unknown key", f"remove it; {hint}")

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if key else self.path

    def error(self, key: str, message: str, fix: str) -> None:
        self.issues.append(ConfigIssue(self.sub(key), message, fix))

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def str(self, key: str, default: Optional[str] = None, required: bool = False, fix: str = "") -> Optional[str]:
        v = self.data.get(key)
        if v is None:
            if required:
                self.error(key, "is required", fix or f"set `{key}`")
            return default
        if not isinstance(v, str):
            self.error(key, f"must be a string, got {v!r}", fix or "quote the value")
            return default
        return v.strip()

    def int(self, key: str, default: int, lo: Optional[int] = None, hi: Optional[int] = None,
            fix: str = "") -> int:
        v = self.data.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            self.error(key, f"must be a whole number, got {v!r}", fix or "write a number like 3")
            return default
        try:
            f = float(v)
            if f != int(f):
                raise ValueError
            n = int(f)
        except ValueError:
            self.error(key, f"must be a whole number, got {v!r}", fix or "write a number like 3")
            return default
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            rng = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
            self.error(key, f"must be {rng}, got {n}", fix or f"use a value in {rng}")
            return default
        return n

    def float(self, key: str, default: float, lo: float, hi: float, fix: str = "") -> float:
        v = self.data.get(key)
        if v is None:
            return default
        try:
            if isinstance(v, bool):
                raise ValueError
            f = float(v)
        except (TypeError, ValueError):
            self.error(key, f"must be a number, got {v!r}", fix or "write a number like 1.5")
            return default
        if not lo <= f <= hi:
            self.error(key, f"must be between {lo} and {hi}, got {f}", fix or f"use a value in {lo}..{hi}")
            return default
        return f

    def bool(self, key: str, default: bool) -> bool:
        v = self.data.get(key)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        self.error(key, f"must be true or false, got {v!r}", "write true or false")
        return default

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        choices = tuple(choices)
        v = self.str(key, default)
        if v not in choices:
            self.error(key, f"must be one of {', '.join(choices)}, got {v!r}", f"use one of {', '.join(choices)}")
            return default
        return v

    def list(self, key: str, required: bool = False, fix: str = "") -> list:
        v = self.data.get(key)
        if v is None:
            if required:
                self.error(key, "is required", fix or f"add a `{key}` list")
            return []
        if not isinstance(v, list):
            self.error(key, f"must be a list, got {type(v).__name__}", fix or "write it as a YAML list")
            return []
        return v


class _TopReader(_Reader):
    """Top-level keys are namespaced with a colon: ``coldmail:servers``, not ``coldmail.servers``."""

    def sub(self, key: str) -> str:
        return f"{NAMESPACE}:{key}" if key else NAMESPACE


def normalise_domain(name: str) -> str:
    """Lowercase punycode form, as Mailcow stores it (idn_to_ascii UTS46). Raises ValueError."""
    name = name.strip()
    if name.endswith("."):
        raise ValueError("a trailing dot is not allowed")
    ascii_name = idna.encode(name, uts46=True).decode("ascii").lower()
    labels = ascii_name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValueError("not a valid domain name")
    if len(ascii_name) > 253:
        raise ValueError("longer than 253 characters")
    return ascii_name


def registrable_domain(name: str) -> Optional[str]:
    return _PSL.privatesuffix(name)


def _ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _name_part(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _ascii_fold(text).lower())


def render_local_part(pattern: str, first: str, last: str, n: int) -> str:
    """Fill a mailbox naming pattern such as ``{first}.{last}``; the result is lowercase ASCII."""
    f, l = _name_part(first), _name_part(last)
    return pattern.format(first=f, last=l, f=f[:1], l=l[:1], n=n).lower()


def local_part_problem(local_part: str) -> Optional[str]:
    """Why Mailcow (or a mail client) would reject this local part, or None."""
    if "+" in local_part:
        return "contains `+`, which Mailcow's API path and Postfix's recipient delimiter break"
    if local_part != local_part.lower():
        return "has uppercase letters; Mailcow lowercases local parts, so the address would not match"
    if ".." in local_part:
        return "has two dots in a row"
    if not _LOCAL_PART.match(local_part):
        return "must be 1-64 of a-z 0-9 . _ - and start and end with a letter or digit"
    return None


def _suggest_local_part(local_part: str) -> str:
    s = re.sub(r"[^a-z0-9._-]", "", _ascii_fold(local_part).lower().split("+", 1)[0])
    s = re.sub(r"\.{2,}", ".", s).strip("._-")
    return s or "firstname.lastname"


def _check_fqdn(r: _Reader, key: str, value: Optional[str], what: str) -> Optional[str]:
    if value is None:
        return None
    try:
        return normalise_domain(value)
    except (ValueError, idna.IDNAError) as exc:
        r.error(key, f"{what} {value!r} is invalid: {exc}", "use a name like mx1.example.com, no trailing dot")
        return None


def _read_dmarc(issues: list[ConfigIssue], data: Any) -> DmarcConfig:
    r = _Reader(issues, f"{NAMESPACE}:dmarc", data, ("phase", "rua", "ruf"))
    phase = r.choice("phase", "none", DMARC_PHASES)
    rua = r.str("rua", required=True, fix="set a report mailbox, e.g. `rua: dmarc-reports@yourcompany.com`")
    ruf = r.str("ruf")
    for key, v in (("rua", rua), ("ruf", ruf)):
        if v is not None:
            addr = v[len("mailto:"):] if v.startswith("mailto:") else v
            if not _EMAIL.match(addr):
                r.error(key, f"{v!r} is not an email address", "write an address like dmarc@example.com")
    strip = lambda v: None if v is None else (v[7:] if v.startswith("mailto:") else v)  # noqa: E731
    return DmarcConfig(phase, strip(rua) or "", strip(ruf))


def _read_dkim(issues: list[ConfigIssue], data: Any) -> DkimConfig:
    r = _Reader(issues, f"{NAMESPACE}:dkim", data, ("selector", "keySize", "allowWeakKeys"))
    selector = r.str("selector", "dkim") or "dkim"
    if not _SELECTOR.match(re.sub(r"[-_.]", "", selector)):
        r.error("selector", f"{selector!r} is not a valid DKIM selector",
                "use letters and digits, optionally with - _ . (e.g. `dkim` or `s2026`)")
    allow_weak = r.bool("allowWeakKeys", False)
    key_size = r.int("keySize", 2048)
    if key_size not in DKIM_KEY_SIZES:
        r.error("keySize", f"must be one of {', '.join(map(str, DKIM_KEY_SIZES))}, got {key_size}", "use 2048")
        key_size = 2048
    elif key_size < 2048 and not allow_weak:
        r.error("keySize", f"{key_size}-bit DKIM keys are weak (RFC 8301 recommends 2048)",
                "use 2048, or set `dkim.allowWeakKeys: true` if a DNS host limits TXT length")
    return DkimConfig(selector, key_size, allow_weak)


def _read_warmup(issues: list[ConfigIssue], data: Any) -> WarmupPlan:
    r = _Reader(issues, f"{NAMESPACE}:warmup", data, (
        "startPerIpPerDay", "growthFactor", "periodDays", "maxPerIpPerDay", "maxPerMailboxPerDay", "startDate"))
    start = r.int("startPerIpPerDay", 20, 1, 1000)
    growth = r.float("growthFactor", 2.0, 1.0, 3.0, fix="use 1.5-2.0; faster ramps get IPs blocked")
    period = r.int("periodDays", 7, 1, 60)
    cap = r.int("maxPerIpPerDay", 300, 1, 100000)
    per_mailbox = r.int("maxPerMailboxPerDay", 40, 1, 2000)
    if cap < start:
        r.error("maxPerIpPerDay", f"cap {cap} is below the start volume {start}",
                f"raise maxPerIpPerDay to at least {start} or lower startPerIpPerDay")
    start_date = None
    raw = r.str("startDate")
    if raw:
        try:
            start_date = _dt.date.fromisoformat(raw)
        except ValueError:
            r.error("startDate", f"{raw!r} is not a date", "write it as YYYY-MM-DD")
    return WarmupPlan(start, growth, period, cap, per_mailbox, start_date)


def _read_dns(issues: list[ConfigIssue], data: Any) -> DnsConfig:
    r = _Reader(issues, f"{NAMESPACE}:dns", data,
                ("ttl", "spfAll", "mtaSts", "mtaStsMode", "tlsRpt", "tlsRptRua", "autoconfig"))
    ttl = r.int("ttl", 300)
    if ttl != 1 and not 60 <= ttl <= 86400:
        r.error("ttl", f"must be 1 (automatic) or 60..86400, got {ttl}", "use 300")
        ttl = 300
    spf_all = r.choice("spfAll", "-all", SPF_ALL)
    mta_sts = r.bool("mtaSts", False)
    mode = r.choice("mtaStsMode", "testing", ("testing", "enforce", "none"))
    tls_rpt = r.bool("tlsRpt", False)
    tls_rua = r.str("tlsRptRua")
    if tls_rua and not _EMAIL.match(tls_rua.removeprefix("mailto:")):
        r.error("tlsRptRua", f"{tls_rua!r} is not an email address", "write an address like tls@example.com")
    return DnsConfig(ttl, spf_all, mta_sts, mode, tls_rpt, tls_rua.removeprefix("mailto:") if tls_rua else None,
                     r.bool("autoconfig", True))


def _read_servers(issues: list[ConfigIssue], items: list) -> list[Server]:
    servers: list[Server] = []
    names: dict[str, int] = {}
    for i, item in enumerate(items):
        r = _Reader(issues, f"{NAMESPACE}:servers[{i}]", item, (
            "name", "hostname", "zone", "zoneId", "location", "serverType", "image", "floatingIps", "ptrNames",
            "sshPublicKey", "adminCidrs", "timezone", "mailcowVersion", "skipClamd", "allowSmallServer",
            "ipv6", "mailcowTlsVerify", "mailcowCaBundle", "mailcowApiKey"))
        name = r.str("name", required=True, fix="give the server a short name like `mx1`") or f"server{i}"
        if not _SERVER_NAME.match(name):
            r.error("name", f"{name!r} is not a valid server name", "use 2-32 of a-z 0-9 -, starting with a letter")
        if name in names:
            r.error("name", f"duplicate server name {name!r} (also servers[{names[name]}])", "give each server its own name")
        names.setdefault(name, i)
        hostname = _check_fqdn(r, "hostname", r.str("hostname", required=True,
                                                    fix="set the Mailcow hostname, e.g. `mx1.mail-ops.com`"), "hostname")
        if hostname and hostname.count(".") < 2:
            r.error("hostname", f"{hostname!r} has only one dot; Mailcow needs a full host name",
                    f"use a subdomain such as mx1.{hostname}")
        zone = r.str("zone") or (registrable_domain(hostname) if hostname else None) or ""
        if hostname and zone and not (hostname == zone or hostname.endswith("." + zone)):
            r.error("zone", f"hostname {hostname!r} is not inside zone {zone!r}", "set `zone` to the Cloudflare zone that holds the hostname")
        location = r.choice("location", "fsn1", LOCATIONS)
        server_type = r.str("serverType", "cx42") or "cx42"
        memory, disk = SERVER_TYPES.get(server_type, (0, 0))
        if not memory:
            r.error("serverType", f"unknown Hetzner server type {server_type!r}",
                    f"use one of {', '.join(sorted(SERVER_TYPES))}")
        skip_clamd = r.bool("skipClamd", False)
        allow_small = r.bool("allowSmallServer", False)
        if memory and memory < MIN_MEMORY_GB and not (skip_clamd and allow_small):
            r.error("serverType", f"{server_type} has {memory} GB RAM; Mailcow needs 6 GiB + swap",
                    "use cx32/cpx31 (8 GB) or larger, or set both `skipClamd: true` and `allowSmallServer: true`")
        image = r.choice("image", "debian-12", IMAGES)
        n_fips = r.int("floatingIps", 0, 0, 20)
        ptr_raw = r.list("ptrNames")
        ptr_names: list[str] = []
        if ptr_raw and len(ptr_raw) != n_fips:
            r.error("ptrNames", f"has {len(ptr_raw)} names for {n_fips} floating IPs", "give exactly one PTR name per floating IP, or remove `ptrNames`")
        for k in range(n_fips):
            if k < len(ptr_raw) and isinstance(ptr_raw[k], str):
                ptr = _check_fqdn(r, f"ptrNames[{k}]", ptr_raw[k], "PTR name") or ""
                if ptr and zone and not ptr.endswith("." + zone):
                    r.error(f"ptrNames[{k}]", f"{ptr!r} is outside zone {zone!r}, so coldmail cannot create its A record",
                            f"use a name under {zone}")
            else:
                head, _, rest = (hostname or f"{name}.invalid.example").partition(".")
                ptr = f"{head}-ip{k + 1}.{rest}"
            ptr_names.append(ptr)
        key = r.str("sshPublicKey", required=True, fix="paste your public key: `ssh-ed25519 AAAA… you@laptop`")
        if key and not _SSH_KEY.match(key):
            r.error("sshPublicKey", "is not an OpenSSH public key", "paste the one line from ~/.ssh/id_ed25519.pub")
        cidrs = r.list("adminCidrs", required=True, fix="list the networks allowed to SSH in, e.g. `[203.0.113.4/32]`")
        for k, c in enumerate(cidrs):
            try:
                ipaddress.ip_network(str(c), strict=False)
            except ValueError:
                r.error(f"adminCidrs[{k}]", f"{c!r} is not an IP network", "write it as 203.0.113.4/32")
        version = r.str("mailcowVersion", "2026-07a") or "2026-07a"
        if not _MAILCOW_TAG.match(version):
            r.error("mailcowVersion", f"{version!r} is not a Mailcow release tag", "pin a tag such as 2026-07a")
        api_key_raw = item.get("mailcowApiKey") if isinstance(item, Mapping) else None
        api_key = api_key_raw if isinstance(api_key_raw, str) else None
        if api_key is not None and not re.fullmatch(r"[A-Za-z0-9-]{16,255}", api_key):
            # Mailcow strips every other character from X-API-Key (API-FACTS §1), so such a key never matches.
            r.error("mailcowApiKey", "must be 16-255 characters of A-Z a-z 0-9 and -",
                    f"generate one: pulumi config set --secret --path 'servers[{i}].mailcowApiKey' \"$(openssl rand -hex 24)\"")
            api_key = None
        servers.append(Server(
            name=name, hostname=hostname or "", zone=zone, zone_id=r.str("zoneId"), location=location,
            server_type=server_type, memory_gb=memory, disk_gb=disk, image=image, floating_ips=n_fips,
            ptr_names=tuple(ptr_names), ssh_public_key=key or "", admin_cidrs=tuple(str(c) for c in cidrs),
            timezone=r.str("timezone", "Europe/Berlin") or "Europe/Berlin", mailcow_version=version,
            skip_clamd=skip_clamd, ipv6=r.bool("ipv6", True), mailcow_tls_verify=r.bool("mailcowTlsVerify", True),
            mailcow_ca_bundle=r.str("mailcowCaBundle"), api_key=api_key,
            api_key_is_set=api_key is not None or _is_secure(api_key_raw), index=i))
    return servers


def _read_mailboxes(r: _Reader, data: Any, domain: str, quota: int, names_default: Mapping) -> list[Mailbox]:
    path = "mailboxes"
    out: list[Mailbox] = []
    if isinstance(data, list):
        for k, item in enumerate(data):
            mr = _Reader(r.issues, r.sub(f"{path}[{k}]"), item, ("localPart", "name", "quotaMb"))
            lp = mr.str("localPart", required=True, fix="set `localPart`, e.g. `anna.berg`") or ""
            if lp:
                why = local_part_problem(lp)
                if why:
                    mr.error("localPart", f"{lp!r} {why}", f"use {_suggest_local_part(lp)!r}")
            out.append(Mailbox(lp, mr.str("name", "") or "", mr.int("quotaMb", quota, 1, 102400), domain))
        return out
    mr = _Reader(r.issues, r.sub(path), data, ("count", "pattern", "firstNames", "lastNames"))
    if not isinstance(data, Mapping):
        return out
    count = mr.int("count", 0, 1, 500, fix="set how many mailboxes this domain gets, 1..500")
    pattern = mr.str("pattern", "{first}.{last}") or "{first}.{last}"
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError:
        fields = {"?"}
    bad = fields - set(PATTERN_FIELDS)
    if bad or not fields:
        mr.error("pattern", f"{pattern!r} uses unknown placeholders {sorted(bad)}" if bad else f"{pattern!r} has no placeholder",
                 "use {first}, {last}, {f}, {l} or {n}, e.g. `{first}.{last}`")
        return out
    firsts = mr.list("firstNames") or list(names_default.get("firstNames") or [])
    lasts = mr.list("lastNames") or list(names_default.get("lastNames") or [])
    needs_names = bool(fields & {"first", "f", "last", "l"})
    if needs_names and (not firsts or not lasts):
        mr.error("firstNames" if not firsts else "lastNames", "is needed by the pattern but empty",
                 "list names here or under `coldmail:names`, or use a pattern like `{n}` only")
        return out
    for n in range(count):
        first = str(firsts[n % len(firsts)]) if firsts else ""
        last = str(lasts[n % len(lasts)]) if lasts else ""
        lp = render_local_part(pattern, first, last, n + 1)
        display = " ".join(p for p in (first.strip().title(), last.strip().title()) if p)
        out.append(Mailbox(lp, display, quota, domain))
    return out


def _read_domains(issues: list[ConfigIssue], items: list, servers: list[Server],
                  names_default: Mapping, dmarc_default: str) -> list[Domain]:
    by_name: dict[str, Server] = {}
    for s in servers:
        by_name.setdefault(s.name, s)
    hostnames = {h: s.name for s in servers for h in (s.hostname, *s.ptr_names) if h}
    seen: dict[str, int] = {}
    domains: list[Domain] = []
    for i, item in enumerate(items):
        r = _Reader(issues, f"{NAMESPACE}:domains[{i}]", item, (
            "name", "server", "ip", "zone", "zoneId", "mailboxes", "mailboxQuotaMb", "description", "dmarcPhase"))
        raw_name = r.str("name", required=True, fix="set the domain, e.g. `name: acme-mail.com`")
        name = _check_fqdn(r, "name", raw_name, "domain") if raw_name else None
        if name is None:
            continue
        if name in seen:
            r.error("name", f"duplicate domain {name!r} (also domains[{seen[name]}])", "list each domain once")
        seen.setdefault(name, i)
        if name in hostnames:
            r.error("name", f"{name!r} is the mail hostname of server {hostnames[name]!r}; Mailcow refuses it "
                    "(domain_cannot_match_hostname)", "use the bare domain, or give the server another hostname")
        server_name = r.str("server")
        if server_name is None and len(servers) == 1:
            server_name = servers[0].name
        server = by_name.get(server_name or "")
        if server is None:
            known = ", ".join(by_name) or "none defined"
            r.error("server", f"unknown server {server_name!r}" if server_name else "is required with several servers",
                    f"use one of: {known}")
        ip = 0
        if server is not None:
            if not r.has("ip") and server.floating_ips:
                r.error("ip", f"is required: server {server.name!r} has {server.floating_ips} floating IPs",
                        f"pick the sending IP: 1..{server.floating_ips} (or 0 for the primary IP)")
            ip = r.int("ip", 0, 0, server.floating_ips,
                       fix=f"server {server.name!r} has IPs 0..{server.floating_ips} (0 = primary, 1..N floating)")
        zone = r.str("zone") or registrable_domain(name) or name
        if not (name == zone or name.endswith("." + zone)):
            r.error("zone", f"domain {name!r} is not inside zone {zone!r}", f"set `zone: {registrable_domain(name)}` or remove it")
        quota = r.int("mailboxQuotaMb", 1024, 1, 102400, fix="use a quota in MiB such as 1024")
        mailboxes = _read_mailboxes(r, item.get("mailboxes") if isinstance(item, Mapping) else None,
                                    name, quota, names_default)
        if isinstance(item, Mapping) and item.get("mailboxes") is None:
            r.error("mailboxes", "is required", "add `mailboxes: {count: 3}` or an explicit list")
        local_seen: dict[str, int] = {}
        for k, m in enumerate(mailboxes):
            if not m.local_part:
                continue
            if m.local_part in local_seen:
                r.error(f"mailboxes[{k}]", f"address {m.address} appears twice (also mailboxes[{local_seen[m.local_part]}])",
                        "give each mailbox its own local part, or add {n} to the pattern")
            local_seen.setdefault(m.local_part, k)
        phase = r.choice("dmarcPhase", dmarc_default, DMARC_PHASES)
        try:
            unicode_name = idna.decode(name)
        except idna.IDNAError:
            unicode_name = name
        domains.append(Domain(
            name=name, unicode_name=unicode_name, server=server.name if server else (server_name or ""), ip=ip,
            zone=zone, zone_id=r.str("zoneId"), mailboxes=tuple(mailboxes), mailbox_quota_mb=quota,
            description=r.str("description", f"coldmail: {unicode_name}") or "", dmarc_phase=phase, index=i))
    return domains


def _check_capacity(issues: list[ConfigIssue], servers: list[Server], domains: list[Domain], headroom: int) -> None:
    """The sum of every mailbox quota on a server must fit its disk, or mail stops when disks fill."""
    for i, s in enumerate(servers):
        if not s.disk_gb:
            continue
        total_mb = sum((len(d.mailboxes) + headroom) * max([m.quota_mb for m in d.mailboxes] + [d.mailbox_quota_mb])
                       for d in domains if d.server == s.name)
        usable_mb = int(s.disk_gb * 1024 * 0.8)  # leave room for the OS, Docker images and logs
        if total_mb > usable_mb:
            issues.append(ConfigIssue(
                f"{NAMESPACE}:servers[{i}].serverType",
                f"mailbox quotas on {s.name} add up to {total_mb // 1024} GiB, more than the "
                f"{usable_mb // 1024} GiB usable on a {s.server_type} ({s.disk_gb} GB disk)",
                "lower `mailboxQuotaMb` on its domains or pick a server type with a bigger disk"))


def load(raw: Mapping[str, Any]) -> StackConfig:
    """Validate a stack's ``coldmail:*`` config (keys without the namespace) and build the model.

    :raises ConfigError: listing every problem, each with its config path and fix.
    """
    raw = {k.split(":", 1)[1] if k.startswith(NAMESPACE + ":") else k: _decode(v) for k, v in raw.items()}
    issues: list[ConfigIssue] = []
    top = _TopReader(issues, NAMESPACE, raw, TOP_LEVEL_KEYS)

    def sub(key: str) -> str:
        return f"{NAMESPACE}:{key}"

    dmarc = _read_dmarc(issues, raw.get("dmarc"))
    dkim = _read_dkim(issues, raw.get("dkim"))
    warmup = _read_warmup(issues, raw.get("warmup"))
    dns = _read_dns(issues, raw.get("dns"))
    lr = _Reader(issues, sub("limits"), raw.get("limits"), ("maxMailboxesPerDomain", "mailboxHeadroom"))
    limits = Limits(lr.int("maxMailboxesPerDomain", 5, 1, 500), lr.int("mailboxHeadroom", 2, 0, 100))
    rr = _Reader(issues, sub("rollout"), raw.get("rollout"), ("batchSize", "stage"))
    rollout = Rollout(rr.int("batchSize", 0, 0, 1000), rr.int("stage", 1, 1, 1000))
    names_default = raw.get("names") if isinstance(raw.get("names"), Mapping) else {}
    _Reader(issues, sub("names"), names_default, ("firstNames", "lastNames"))

    servers = _read_servers(issues, top.list("servers", required=True, fix="add at least one server"))
    domains = _read_domains(issues, top.list("domains", required=True, fix="add at least one domain"),
                            servers, names_default, dmarc.phase)
    _check_capacity(issues, servers, domains, limits.mailbox_headroom)
    ptr_seen: dict[str, str] = {}
    for i, s in enumerate(servers):
        for k, ptr in enumerate(s.ptr_names):
            if ptr in ptr_seen:
                issues.append(ConfigIssue(f"{NAMESPACE}:servers[{i}].ptrNames[{k}]",
                                          f"PTR name {ptr!r} is also used by {ptr_seen[ptr]}",
                                          "give every IP its own PTR name (FCrDNS needs a 1:1 mapping)"))
            ptr_seen.setdefault(ptr, f"servers[{i}]")
    if issues:
        raise ConfigError(issues)
    return StackConfig(tuple(servers), tuple(domains), dmarc, dkim, warmup, dns, limits, rollout,
                       ssh_private_key_is_set=raw.get("sshPrivateKey") is not None)


def validate(raw: Mapping[str, Any]) -> list[ConfigIssue]:
    """Every issue of a raw config, or an empty list."""
    try:
        load(raw)
    except ConfigError as exc:
        return exc.issues
    return []
