"""The stack config schema: :func:`load` parses and validates the whole config in one pass.

Every consumer (``__main__.py``, ``coldmail plan``, the command's config edits, the checks and the
policy pack) goes through :func:`load`, so a config that passes here is the config that gets built.
Validation never stops at the first problem: every issue is collected with its config path and the
fix, and :class:`ConfigError` carries them all.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping, Optional

from .catalogue import USABLE_DISK_SHARE
from .domains import NameList, read_domains
from .errors import ConfigError, ConfigIssue
from .monitoring import read_checks
from .records import mta_sts_enforce_problem, zone_record_counts
from .report_mailboxes import resolve as resolve_report_mailboxes
from .reader import NAMESPACE, Section, TopSection, decode
from .reporting import read_reports
from .sections import read_backup, read_dkim, read_dmarc, read_dns, read_limits, read_rollout, read_warmup
from .servers import check_ptr_names_unique, read_servers
from .sizing import disk_need_mb
from .stackfile import TOP_LEVEL_KEYS
from .types import Domain, Limits, Server, StackConfig
from .warmup import read_warmup_exchange

SERVERS_FIX = ("add a server with `name`, `hostname`, `sshPublicKey` and `adminCidrs` (Pulumi.prod.yaml has one), "
               "or run `coldmail server add`")


def _check_capacity(issues: list[ConfigIssue], servers: list[Server], domains: list[Domain], limits: Limits) -> None:
    """What the mailboxes on a server may fill, with their headroom, must fit its disk, or mail stops when
    disks fill."""
    for i, s in enumerate(servers):
        if not s.disk_gb:
            continue
        total_mb = sum(disk_need_mb(d, limits) for d in domains if d.server == s.name)
        usable_mb = int(s.disk_gb * 1024 * USABLE_DISK_SHARE)
        if total_mb > usable_mb:
            issues.append(ConfigIssue(
                f"{NAMESPACE}:servers[{i}].serverType",
                f"mailbox quotas on {s.name}, with their headroom, add up to {total_mb // 1024} GiB, more than the "
                f"{usable_mb // 1024} GiB usable on a {s.server_type} ({s.disk_gb} GB disk)",
                "lower `mailboxQuotaMb` on its domains or pick a server type with a bigger disk"))


def _check_zone_sizes(issues: list[ConfigIssue], stack: StackConfig) -> None:
    """Cloudflare refuses records past a zone's limit, so ``up`` would stop half way through the domains."""
    limit = stack.dns.max_records_per_zone
    for zone, count in zone_record_counts(stack).items():
        if count > limit:
            issues.append(ConfigIssue(
                f"{NAMESPACE}:dns.maxRecordsPerZone",
                f"zone {zone} would hold {count} records, more than the {limit} allowed (Cloudflare Free allows 200)",
                f"spread what lives in {zone} over more zones (other domains, or servers with hostnames in another "
                "zone), use fewer floating IPs per server, or raise maxRecordsPerZone if the zone's Cloudflare plan "
                "allows more (3500 on Pro and above)"))


def _check_mta_sts_mode(issues: list[ConfigIssue], dns: Any, today: _dt.date) -> None:
    if not dns.mta_sts:
        return
    why = mta_sts_enforce_problem(dns.mta_sts_mode, dns.mta_sts_testing_since, today)
    if why:
        issues.append(ConfigIssue(
            f"{NAMESPACE}:dns.mtaStsMode", why,
            "serve `mtaStsMode: testing` first and set `mtaStsTestingSince: YYYY-MM-DD` to the day it went out; "
            "read the TLS reports (`coldmail reports summary`) before switching to enforce"))


def load(raw: Mapping[str, Any], today: Optional[_dt.date] = None) -> StackConfig:
    """Validate a stack's ``coldmail:*`` config (keys with or without the namespace) and build the model.

    ``today`` is the date MTA-STS's testing period is measured to (the system's date when not given).

    :raises ConfigError: listing every problem, each with its config path and fix.
    """
    raw = {k.split(":", 1)[1] if k.startswith(NAMESPACE + ":") else k: decode(v) for k, v in raw.items()}
    issues: list[ConfigIssue] = []
    top = TopSection(issues, NAMESPACE, raw, TOP_LEVEL_KEYS)

    dmarc = read_dmarc(issues, raw.get("dmarc"))
    dkim = read_dkim(issues, raw.get("dkim"))
    warmup = read_warmup(issues, raw.get("warmup"))
    exchange = read_warmup_exchange(issues, raw.get("warmup"))
    dns = read_dns(issues, raw.get("dns"))
    limits = read_limits(issues, raw.get("limits"))
    rollout = read_rollout(issues, raw.get("rollout"))
    reports = read_reports(issues, raw.get("reports"))
    backup = read_backup(issues, raw.get("backup"))
    checks = read_checks(issues, raw.get("checks"))
    names = Section(issues, f"{NAMESPACE}:names", raw.get("names"), ("firstNames", "lastNames"))
    name_lists = {key: NameList(names.sub(key), names.list(key)) for key in ("firstNames", "lastNames")}

    server_items = top.list("servers", required=True, fix=SERVERS_FIX)
    if isinstance(raw.get("servers"), list) and not raw["servers"]:
        top.error("servers", "lists no server", SERVERS_FIX)
    servers = read_servers(issues, server_items)
    domains = read_domains(issues, top.list("domains", required=True, fix="add at least one domain"),
                           servers, name_lists, dmarc.phase, limits.max_mailboxes_per_domain)
    _check_capacity(issues, servers, domains, limits)
    check_ptr_names_unique(issues, servers)
    dmarc, dns, report_domain, warnings = resolve_report_mailboxes(issues, servers, domains, dmarc, dns)
    _check_mta_sts_mode(issues, dns, today or _dt.date.today())
    if issues:
        raise ConfigError(issues)
    stack = StackConfig(tuple(servers), tuple(domains), dmarc, dkim, warmup, dns, limits, rollout,
                        ssh_private_key_is_set=raw.get("sshPrivateKey") is not None, reports=reports,
                        backup=backup, warmup_exchange=exchange, checks=checks, report_domain=report_domain,
                        warnings=tuple(warnings))
    # Counted on the validated stack: the records are rendered by the one renderer the program uses.
    _check_zone_sizes(issues, stack)
    if issues:
        raise ConfigError(issues)
    return stack


def validate(raw: Mapping[str, Any]) -> list[ConfigIssue]:
    """Every issue of a raw config, or an empty list."""
    try:
        load(raw)
    except ConfigError as exc:
        return exc.issues
    return []
