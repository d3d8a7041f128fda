"""The stack-wide settings: DMARC, DKIM, warmup, DNS, limits and rollout."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Optional

from .errors import ConfigIssue
from .mailcow import (DEFAULT_DKIM_SELECTOR, DKIM_KEY_SIZES, DKIM_MIN_STRONG_BITS, DKIM_STRONG_KEY_SIZES,
                      dkim_selector_problem)
from .names import email_problem
from .reader import NAMESPACE, Section, is_secure
from .secrets import OFFSITE_SECRETS
from .sizing import MAX_MAILBOXES_PER_DOMAIN
from .types import BackupConfig, DkimConfig, DmarcConfig, DnsConfig, Limits, OffsiteBackup, Rollout
from .warmup import EXCHANGE_KEYS, WarmupPlan

DMARC_PHASES = ("none", "quarantine", "reject")
SPF_ALL = ("-all", "~all")
MTA_STS_MODES = ("testing", "enforce", "none")


def _mailto(value: str) -> str:
    return value.removeprefix("mailto:")


def read_dmarc(issues: list[ConfigIssue], data: Any) -> DmarcConfig:
    r = Section(issues, f"{NAMESPACE}:dmarc", data, ("phase", "rua", "ruf"))
    phase = r.choice("phase", "none", DMARC_PHASES)
    # Unset, the schema fills in the stack's own report mailbox (coldmail.model.report_mailboxes).
    rua = r.str("rua")
    ruf = r.str("ruf")
    for key, v in (("rua", rua), ("ruf", ruf)):
        if v is not None and email_problem(v):
            r.error(key, f"{v!r} is not an email address", "write an address like dmarc@example.com")
    return DmarcConfig(phase, _mailto(rua) if rua else "", _mailto(ruf) if ruf else None)


def read_dkim(issues: list[ConfigIssue], data: Any) -> DkimConfig:
    r = Section(issues, f"{NAMESPACE}:dkim", data, ("selector", "keySize", "allowWeakKeys"))
    selector = r.str("selector", DEFAULT_DKIM_SELECTOR) or DEFAULT_DKIM_SELECTOR
    why = dkim_selector_problem(selector)
    if why:
        r.error("selector", f"{selector!r} is not a valid DKIM selector", f"use a selector that {why}")
    if r.has("allowWeakKeys"):
        r.error("allowWeakKeys", f"is no longer supported: keys under {DKIM_MIN_STRONG_BITS} bits are refused "
                "(RFC 8301), here and by the policy pack's mandatory dkim-key-size rule", "remove it")
    sizes = ", ".join(map(str, DKIM_STRONG_KEY_SIZES))
    key_size = r.int("keySize", DKIM_MIN_STRONG_BITS)
    if key_size not in DKIM_STRONG_KEY_SIZES:
        weak = key_size in DKIM_KEY_SIZES
        r.error("keySize", f"{key_size}-bit DKIM keys are weak (RFC 8301 asks for at least {DKIM_MIN_STRONG_BITS})"
                if weak else f"must be one of {sizes}, got {key_size}", f"use {DKIM_MIN_STRONG_BITS}")
        key_size = DKIM_MIN_STRONG_BITS
    return DkimConfig(selector, key_size)


def read_warmup(issues: list[ConfigIssue], data: Any) -> WarmupPlan:
    r = Section(issues, f"{NAMESPACE}:warmup", data, (
        "startPerIpPerDay", "growthFactor", "periodDays", "maxPerIpPerDay", "maxPerMailboxPerDay", "startDate",
        *EXCHANGE_KEYS))
    start = r.int("startPerIpPerDay", 20, 1, 1000)
    growth = r.float("growthFactor", 2.0, 1.0, 3.0, fix="use 1.5-2.0; faster ramps get IPs blocked")
    if growth == 1.0:
        r.error("growthFactor", "1.0 is a ramp that never grows: the IPs would stay at the start volume",
                "use 1.5-2.0")
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


#: Cloudflare Free's record limit per zone (zones created since September 2024); paid plans allow 3,500.
CLOUDFLARE_FREE_RECORDS = 200


def read_dns(issues: list[ConfigIssue], data: Any) -> DnsConfig:
    r = Section(issues, f"{NAMESPACE}:dns", data,
                ("ttl", "spfAll", "mtaSts", "mtaStsMode", "mtaStsTestingSince", "mtaStsMaxAge", "tlsRpt", "tlsRptRua",
                 "autoconfig", "maxRecordsPerZone"))
    ttl = r.int("ttl", 300)
    if ttl != 1 and not 60 <= ttl <= 86400:
        r.error("ttl", f"must be 1 (automatic) or 60..86400, got {ttl}", "use 300")
        ttl = 300
    spf_all = r.choice("spfAll", "-all", SPF_ALL)
    mta_sts = r.bool("mtaSts", False)
    mode = r.choice("mtaStsMode", "testing", MTA_STS_MODES)
    tls_rpt = r.bool("tlsRpt", False)
    tls_rua = r.str("tlsRptRua")
    if tls_rua and email_problem(tls_rua):
        r.error("tlsRptRua", f"{tls_rua!r} is not an email address", "write an address like tls@example.com")
    since = None
    raw_since = r.data.get("mtaStsTestingSince")
    if isinstance(raw_since, _dt.date):
        since = raw_since
    elif raw_since is not None:
        try:
            since = _dt.date.fromisoformat(str(raw_since).strip())
        except ValueError:
            r.error("mtaStsTestingSince", f"{raw_since!r} is not a date", "write it as YYYY-MM-DD")
    # RFC 8461 §3.2: max_age up to 31557600 s (a year); under a day makes senders refetch constantly.
    max_age = r.int("mtaStsMaxAge", 604800, 86400, 31557600, fix="use 604800 (a week)")
    return DnsConfig(ttl, spf_all, mta_sts, mode, tls_rpt, _mailto(tls_rua) if tls_rua else None,
                     r.bool("autoconfig", True),
                     max_records_per_zone=r.int("maxRecordsPerZone", CLOUDFLARE_FREE_RECORDS, 1, 1_000_000,
                                                fix=f"use {CLOUDFLARE_FREE_RECORDS} (Cloudflare Free) or your plan's "
                                                    "limit (3500 on Pro, Business and Enterprise)"),
                     mta_sts_testing_since=since, mta_sts_max_age=max_age)


def read_limits(issues: list[ConfigIssue], data: Any) -> Limits:
    r = Section(issues, f"{NAMESPACE}:limits", data, ("maxMailboxesPerDomain", "mailboxHeadroom"))
    return Limits(r.int("maxMailboxesPerDomain", MAX_MAILBOXES_PER_DOMAIN, 1, 500), r.int("mailboxHeadroom", 2, 0, 100))


def read_rollout(issues: list[ConfigIssue], data: Any) -> Rollout:
    r = Section(issues, f"{NAMESPACE}:rollout", data, ("batchSize", "stage"))
    return Rollout(r.int("batchSize", 0, 0, 1000), r.int("stage", 1, 1, 1000))


_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
# Backup paths reach a shell and a systemd unit: plain characters only.
_PATH = re.compile(r"^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$")
# restic's S3 form: s3:https://<endpoint>/<bucket>[/<path>] (or s3:<endpoint>/<bucket>, https implied).
_S3_REPOSITORY = re.compile(r"^s3:(https?://)?[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._-]+(/[A-Za-z0-9._/-]*)?$")
"""The ``backup.offsite`` keys that must be set with ``pulumi config set --secret``."""


def _secret(r: Section, key: str) -> tuple[Optional[str], bool]:
    """The clear value (inside the running program) and whether the key is set at all (encrypted or not)."""
    raw = r.data.get(key)
    if raw is None:
        return None, False
    if is_secure(raw):
        return None, True
    if isinstance(raw, str) and raw:
        return raw, True
    r.error(key, "must be a non-empty string", "set it with `pulumi config set --secret --path`")
    return None, False


def read_backup(issues: list[ConfigIssue], data: Any) -> BackupConfig:
    r = Section(issues, f"{NAMESPACE}:backup", data, ("enabled", "time", "deleteDays", "location", "offsite"))
    default = BackupConfig()
    time = r.str("time", default.time) or default.time
    if not _TIME.match(time):
        r.error("time", f"{time!r} is not a time of day", "write it as HH:MM, e.g. 03:30")
        time = default.time
    location = r.str("location", default.location) or default.location
    if not _PATH.match(location) or "/../" in location + "/":
        r.error("location", f"{location!r} is not an absolute path of plain characters",
                "use a path like /var/backups/mailcow")
        location = default.location
    offsite = None
    if r.has("offsite"):
        o = Section(issues, r.sub("offsite"), r.data.get("offsite"), ("repository", "keepDays", *OFFSITE_SECRETS))
        repository = o.str("repository", required=True,
                           fix="set restic's S3 repository, e.g. s3:https://s3.eu-central-1.example.com/bucket/coldmail")
        if repository and not _S3_REPOSITORY.match(repository):
            o.error("repository", f"{repository!r} is not an S3 repository restic understands",
                    "write it as s3:https://<endpoint>/<bucket>/<path>")
        values = {}
        for key in OFFSITE_SECRETS:
            value, is_set = _secret(o, key)
            if not is_set:
                o.error(key, "is required for the off-site copy",
                        f"pulumi config set --secret --path 'coldmail:backup.offsite.{key}' <value>"
                        + (" (generate it: openssl rand -base64 32; keep it: without it the copy is unreadable)"
                           if key == "password" else ""))
            values[key] = value
        offsite = OffsiteBackup(repository or "", o.int("keepDays", 30, 1, 3650), password=values["password"],
                                access_key_id=values["accessKeyId"], secret_access_key=values["secretAccessKey"])
    return BackupConfig(enabled=r.bool("enabled", True), time=time, delete_days=r.int("deleteDays", 14, 1, 3650),
                        location=location, offsite=offsite)
