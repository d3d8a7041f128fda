"""The names capabilities use in the history, so one can read what another wrote without importing it.

A check name is dotted, its first part the family; a subject is ``<kind>:<name>``. The checks write the
health families, hygiene the bounce and complaint rates, warmup its sends and placement, backup its
runs; the warmup hold, the status page and the MCP resources read them back by these names only.
"""

from __future__ import annotations

from typing import Optional

# Families (the first part of a check name) and who writes them.
DNS = "dns"                  # checks: a record the stack expects, compared with what is live
AUTH = "auth"                # checks: SPF per IP, DMARC, DKIM key, FCrDNS, HELO, MTA-STS
BLACKLIST = "blacklist"      # checks: one DNSBL per check name, e.g. blacklist.zen
SMTP = "smtp"                # checks: ports, banners, STARTTLS, outbound 25
TLS = "tls"                  # checks: certificate validity and days to expiry
POSTMASTER = "postmaster"    # checks: Google Postmaster Tools reputation and spam rate
HYGIENE = "hygiene"          # hygiene: bounce and complaint rates
WARMUP = "warmup"            # warmup: sends against the cap, placement
BACKUP = "backup"            # backup: last run and the age of the latest backup
REPORTS = "reports"          # reports: DMARC/TLS-RPT evidence per domain

#: Checks whose failure holds a warmup ramp (it stops growing) for the IP or domain concerned.
HOLD_FAMILIES = (BLACKLIST, DNS, HYGIENE, POSTMASTER)

# Check names written by one capability and read by another.
HYGIENE_BOUNCE_RATE = "hygiene.bounce_rate"      # value: hard bounces / sends over the window, 0..1
HYGIENE_COMPLAINTS = "hygiene.complaints"        # value: complaints over the window
WARMUP_SENT = "warmup.sent"                      # value: sent today; data: {"cap": int, "day": "YYYY-MM-DD"}
WARMUP_PLACEMENT = "warmup.placement"            # value: inbox share 0..1; data: {"provider": ..., ...}
WARMUP_HOLD = "warmup.hold"                      # warn while an IP's ramp holds; data: {"ip": label, "reasons": [...]}
BACKUP_LATEST = "backup.latest"                  # value: age of the latest backup in hours
REPORTS_DMARC_PASS = "reports.dmarc_pass"        # value: share of reported messages passing DMARC aligned, 0..1
REPORTS_UNKNOWN_SOURCES = "reports.unknown_sources"  # value: sources outside the stack; data: {"sources": [...]}
REPORTS_TLS_FAILURES = "reports.tls_failures"    # value: failed TLS sessions; data: {"failures_by_type": {...}}
REPORTS_PHASE_READY = "reports.phase_ready"      # value: 1 when the next DMARC phase is due; data: the evidence
BACKUP_RUN = "backup.run"                        # the last backup run: ok or fail; data: the run
BACKUP_OFFSITE = "backup.offsite"                # the last run's off-site copy: ok or fail
POSTMASTER_SPAM_RATE = "postmaster.spam_rate"    # value: Gmail's user-reported spam rate 0..1 (per domain)
POSTMASTER_REPUTATION = "postmaster.reputation"  # data: {"reputation": "HIGH"|"MEDIUM"|"LOW"|"BAD", "day": ...}
POSTMASTER_AUTH_RATES = "postmaster.auth_rates"  # value: lowest of SPF/DKIM/DMARC pass rates; data: each rate
TLS_EXPIRY = "tls.expiry"                        # value: days until the server's certificate expires

#: Gmail's user-reported spam rate a sender should stay below, and the one never to reach.
SPAM_RATE_WARN = 0.001
SPAM_RATE_FAIL = 0.003

#: Bounce rate past which big mailbox providers distrust a sender.
MAX_BOUNCE_RATE = 0.03


def ip_subject(address: str) -> str:
    return f"ip:{address}"


def domain_subject(name: str) -> str:
    return f"domain:{name}"


def mailbox_subject(address: str) -> str:
    return f"mailbox:{address.lower()}"


def server_subject(name: str) -> str:
    return f"server:{name}"


def family(check: str) -> str:
    return check.split(".", 1)[0]


def split_subject(subject: str) -> tuple[str, Optional[str]]:
    """``("ip", "203.0.113.5")`` for ``ip:203.0.113.5``; ``(subject, None)`` when it has no kind."""
    kind, sep, name = subject.partition(":")
    return (kind, name) if sep else (subject, None)
