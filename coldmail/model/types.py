"""The validated stack: plain frozen dataclasses, built only by :func:`coldmail.model.load`."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Iterable, Optional

from .errors import ConfigIssue

from .monitoring import ChecksConfig
from .reporting import ReportsConfig
from .warmup import WarmupExchange, WarmupPlan


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
    adopt_relayhosts: bool = False
    """Take over Mailcow relayhosts that exist with the stack's hostnames; destroy leaves them in place."""
    api_key: Optional[str] = field(default=None, repr=False, compare=False)
    """The Mailcow API key, a secret: never log, print or pass it as a resource input."""
    api_key_is_set: bool = False
    index: int = 0
    api_cidrs: tuple[str, ...] = ()
    """Who may call the Mailcow API (``API_ALLOW_FROM`` beside the host itself); ``adminCidrs`` by default."""
    admin_ui_cidrs: tuple[str, ...] = ()
    """Who may open Mailcow's ``/admin``; empty means Mailcow's own login is the only lock."""
    ssh_from_internet: bool = False
    pop3: bool = False
    sieve: bool = False
    mailcow_commit: str = ""
    """The commit ``mailcow_version`` must resolve to; the install refuses any other."""
    image_digests: tuple[tuple[str, str], ...] = ()
    """``(compose service, sha256 digest)`` for images in :data:`coldmail.model.mailcow.PINNED_IMAGES`."""

    @property
    def api_url(self) -> str:
        return f"https://{self.hostname}"

    @property
    def sending_ips(self) -> tuple[SendingIp, ...]:
        primary = SendingIp(self.name, 0, self.hostname)
        return (primary,) + tuple(SendingIp(self.name, i + 1, n) for i, n in enumerate(self.ptr_names))

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
    postmaster_token: Optional[str] = None
    """Google Postmaster Tools' verification token, published as ``google-site-verification=<token>``."""

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(m.address for m in self.mailboxes)

    @property
    def largest_quota_mb(self) -> int:
        """The biggest mailbox quota of the domain (its default quota when it has no mailbox)."""
        return max([m.quota_mb for m in self.mailboxes] + [self.mailbox_quota_mb])


@dataclass(frozen=True)
class DmarcConfig:
    phase: str
    rua: str
    ruf: Optional[str]


@dataclass(frozen=True)
class DkimConfig:
    selector: str
    key_size: int


@dataclass(frozen=True)
class DnsConfig:
    ttl: int
    spf_all: str
    mta_sts: bool
    mta_sts_mode: str
    tls_rpt: bool
    tls_rpt_rua: Optional[str]
    """Where TLS reports go; ``tls-reports@<report zone>`` unless set (always filled by the schema)."""
    autoconfig: bool
    max_records_per_zone: int = 200
    """The most records one Cloudflare zone may hold (200 on Cloudflare Free)."""
    mta_sts_testing_since: Optional[_dt.date] = None
    """Since when the MTA-STS policy has been served in ``testing`` mode; ``enforce`` needs it."""
    mta_sts_max_age: int = 604800


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
class OffsiteBackup:
    """An encrypted copy of every backup in S3-compatible storage, made with restic."""

    repository: str
    """restic's repository string, ``s3:https://<endpoint>/<bucket>/<path>``."""
    keep_days: int
    password: Optional[str] = field(default=None, repr=False, compare=False)
    """restic's repository password, a secret: it encrypts the copy, and losing it loses the copy."""
    access_key_id: Optional[str] = field(default=None, repr=False, compare=False)
    secret_access_key: Optional[str] = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class BackupConfig:
    """Mailcow's own backup, run daily on each server by a systemd timer."""

    enabled: bool = True
    time: str = "03:30"
    """When the daily run starts, ``HH:MM`` in the server's time zone."""
    delete_days: int = 14
    """Backups older than this are deleted by Mailcow's script (``--delete-days``)."""
    location: str = "/var/backups/mailcow"
    """``MAILCOW_BACKUP_LOCATION`` on the server."""
    offsite: Optional[OffsiteBackup] = None


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
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    backup: BackupConfig = BackupConfig()
    warmup_exchange: WarmupExchange = WarmupExchange()
    """The warmup worker's exchanges: marker header, reply share, sending hours and seed mailboxes."""
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    """``coldmail:checks``: how health checks run and alert (coldmail.model.monitoring)."""
    report_domain: Optional[Domain] = None
    """The domain holding the report mailboxes the stack makes (the zone of the first server's hostname), with
    those mailboxes; None when every report address is external."""
    warnings: tuple[ConfigIssue, ...] = ()
    """What the schema accepts but cannot vouch for (an external report address's MX), each with its path."""

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
        """Mailcow limits for a domain, in steps (``coldmail.model.sizing``): limits bite at mailbox add."""
        from .sizing import domain_sizing

        return domain_sizing(domain, self.limits)
