"""The stack-wide settings: DMARC, DKIM, warmup, DNS, limits and rollout."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from .errors import ConfigIssue
from .mailcow import DKIM_KEY_SIZES, DKIM_MIN_STRONG_BITS, DEFAULT_DKIM_SELECTOR, dkim_selector_problem
from .names import email_problem
from .reader import NAMESPACE, Section
from .types import DkimConfig, DmarcConfig, DnsConfig, Limits, Rollout
from .warmup import EXCHANGE_KEYS, WarmupPlan

DMARC_PHASES = ("none", "quarantine", "reject")
SPF_ALL = ("-all", "~all")
MTA_STS_MODES = ("testing", "enforce", "none")


def _mailto(value: str) -> str:
    return value.removeprefix("mailto:")


def read_dmarc(issues: list[ConfigIssue], data: Any) -> DmarcConfig:
    r = Section(issues, f"{NAMESPACE}:dmarc", data, ("phase", "rua", "ruf"))
    phase = r.choice("phase", "none", DMARC_PHASES)
    rua = r.str("rua", required=True, fix="set a report mailbox, e.g. `rua: dmarc-reports@yourcompany.com`")
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
    allow_weak = r.bool("allowWeakKeys", False)
    key_size = r.int("keySize", 2048)
    if key_size not in DKIM_KEY_SIZES:
        r.error("keySize", f"must be one of {', '.join(map(str, DKIM_KEY_SIZES))}, got {key_size}", "use 2048")
        key_size = 2048
    elif key_size < DKIM_MIN_STRONG_BITS and not allow_weak:
        r.error("keySize", f"{key_size}-bit DKIM keys are weak (RFC 8301 recommends 2048)",
                "use 2048, or set `dkim.allowWeakKeys: true` if a DNS host limits TXT length")
    return DkimConfig(selector, key_size, allow_weak)


def read_warmup(issues: list[ConfigIssue], data: Any) -> WarmupPlan:
    r = Section(issues, f"{NAMESPACE}:warmup", data, (
        "startPerIpPerDay", "growthFactor", "periodDays", "maxPerIpPerDay", "maxPerMailboxPerDay", "startDate",
        *EXCHANGE_KEYS))
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


def read_dns(issues: list[ConfigIssue], data: Any) -> DnsConfig:
    r = Section(issues, f"{NAMESPACE}:dns", data,
                ("ttl", "spfAll", "mtaSts", "mtaStsMode", "tlsRpt", "tlsRptRua", "autoconfig"))
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
    return DnsConfig(ttl, spf_all, mta_sts, mode, tls_rpt, _mailto(tls_rua) if tls_rua else None,
                     r.bool("autoconfig", True))


def read_limits(issues: list[ConfigIssue], data: Any) -> Limits:
    r = Section(issues, f"{NAMESPACE}:limits", data, ("maxMailboxesPerDomain", "mailboxHeadroom"))
    return Limits(r.int("maxMailboxesPerDomain", 5, 1, 500), r.int("mailboxHeadroom", 2, 0, 100))


def read_rollout(issues: list[ConfigIssue], data: Any) -> Rollout:
    r = Section(issues, f"{NAMESPACE}:rollout", data, ("batchSize", "stage"))
    return Rollout(r.int("batchSize", 0, 0, 1000), r.int("stage", 1, 1, 1000))
