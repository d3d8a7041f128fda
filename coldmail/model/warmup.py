"""The warmup plan: how many mails an IP may send on each day of its ramp, and how warmup mail is exchanged."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .names import email_problem
from .networks import is_loopback
from .reader import NAMESPACE, Section, is_secure


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


# --------------------------------------------------------------------------------------------
# Exchanges: the seed mailboxes and how warmup mail is marked, answered and timed
# --------------------------------------------------------------------------------------------

#: The header that marks warmup mail, so a user's tools can filter it out.
DEFAULT_HEADER = "X-Coldmail-Warmup"
_HEADER_NAME = re.compile(r"^X-[A-Za-z0-9][A-Za-z0-9-]{0,60}$")

#: The ``coldmail:warmup`` keys read here (the ramp's own keys are read by ``sections.read_warmup``).
EXCHANGE_KEYS = ("header", "replyShare", "sendFromHour", "sendUntilHour", "pauseSeconds", "seeds")
SEED_KEYS = ("address", "provider", "password", "imapHost", "imapPort", "smtpHost", "smtpPort", "tls",
             "spamFolder", "promotionsFolder", "maxPerDay")


@dataclass(frozen=True)
class SeedProvider:
    """Where a mailbox provider's users log in over IMAP and SMTP submission, and which domains are its own."""

    imap: tuple[str, int]
    smtp: tuple[str, int]
    domains: tuple[str, ...]


#: The providers seeds usually live at. ``other`` needs its hosts in the config.
SEED_PROVIDERS: dict[str, Optional[SeedProvider]] = {
    "gmail": SeedProvider(("imap.gmail.com", 993), ("smtp.gmail.com", 587), ("gmail.com", "googlemail.com")),
    "outlook": SeedProvider(("outlook.office365.com", 993), ("smtp-mail.outlook.com", 587),
                            ("outlook.com", "hotmail.com", "live.com", "msn.com")),
    "yahoo": SeedProvider(("imap.mail.yahoo.com", 993), ("smtp.mail.yahoo.com", 587),
                          ("yahoo.com", "ymail.com", "rocketmail.com")),
    "other": None,
}


@dataclass(frozen=True)
class Seed:
    """An external mailbox the user owns (Gmail, Outlook, Yahoo…), logged into with an app password.

    ``tls`` false means plain IMAP/SMTP, which the schema allows only to a loopback host.
    ``spam_folder`` None means the folder IMAP marks ``\\Junk``.
    """

    address: str
    provider: str
    imap_host: str
    imap_port: int
    smtp_host: str
    smtp_port: int
    tls: bool
    spam_folder: Optional[str]
    promotions_folder: Optional[str]
    max_per_day: int
    index: int = 0
    password: Optional[str] = field(default=None, repr=False, compare=False)
    """The app password, a secret: never log, print or pass it on."""
    password_is_set: bool = False

    @property
    def password_config_path(self) -> str:
        """The ``--path`` under which ``pulumi config set --secret`` stores this seed's password."""
        return f"warmup.seeds[{self.index}].password"


@dataclass(frozen=True)
class WarmupExchange:
    """How the warmup worker exchanges mail: its marker header, reply share, sending hours and seeds.

    ``pause_seconds`` is the longest pause between two messages of one run; pauses are random between a
    quarter of it and all of it.
    """

    header: str = DEFAULT_HEADER
    reply_share: float = 0.3
    send_from_hour: int = 8
    send_until_hour: int = 18
    pause_seconds: float = 6.0
    seeds: tuple[Seed, ...] = ()


def provider_of(address: str) -> str:
    """``gmail`` for ``x@gmail.com``; ``other`` for a domain no known provider owns."""
    domain = address.rpartition("@")[2].lower()
    for name, p in SEED_PROVIDERS.items():
        if p is not None and domain in p.domains:
            return name
    return "other"


def read_warmup_exchange(issues: list, data: Any) -> WarmupExchange:
    """The exchange keys of ``coldmail:warmup`` (unknown keys are reported by the ramp's reader)."""
    mine = {k: v for k, v in data.items() if k in EXCHANGE_KEYS} if isinstance(data, Mapping) else {}
    r = Section(issues, f"{NAMESPACE}:warmup", mine, EXCHANGE_KEYS)
    header = r.str("header", DEFAULT_HEADER) or DEFAULT_HEADER
    if not _HEADER_NAME.match(header):
        r.error("header", f"{header!r} is not a private header name", f"use a name like {DEFAULT_HEADER}")
        header = DEFAULT_HEADER
    share = r.float("replyShare", 0.3, 0.0, 1.0, fix="use a share like 0.3 (three replies in ten)")
    start = r.int("sendFromHour", 8, 0, 23)
    until = r.int("sendUntilHour", 18, 1, 24)
    if until <= start:
        r.error("sendUntilHour", f"{until} is not after sendFromHour {start}", "use hours like 8 and 18")
        start, until = 8, 18
    pause = r.float("pauseSeconds", 6.0, 0.0, 600.0, fix="use a few seconds, e.g. 6")
    seeds: list[Seed] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(r.list("seeds")):
        s = Section(issues, f"{NAMESPACE}:warmup.seeds[{i}]", item, SEED_KEYS)
        address = (s.str("address", required=True,
                         fix="the seed's full address, e.g. you.seed@gmail.com") or "").lower()
        if address and email_problem(address):
            s.error("address", f"{address!r} is not an email address", "write it like you.seed@gmail.com")
        if address in seen:
            s.error("address", f"duplicate seed {address!r} (also seeds[{seen[address]}])", "list each seed once")
        seen.setdefault(address, i)
        provider = s.choice("provider", provider_of(address), tuple(SEED_PROVIDERS))
        known = SEED_PROVIDERS.get(provider)
        imap_host = s.str("imapHost", known.imap[0] if known else None, required=known is None,
                          fix="set the provider's IMAP host, e.g. `imapHost: imap.example.net`") or ""
        smtp_host = s.str("smtpHost", known.smtp[0] if known else None, required=known is None,
                          fix="set the provider's SMTP submission host, e.g. `smtpHost: smtp.example.net`") or ""
        imap_port = s.int("imapPort", known.imap[1] if known else 993, 1, 65535)
        smtp_port = s.int("smtpPort", known.smtp[1] if known else 587, 1, 65535)
        tls = s.bool("tls", True)
        remote = [h for h in dict.fromkeys((imap_host, smtp_host)) if h and not is_loopback(h)]
        if not tls and remote:
            s.error("tls", f"plain IMAP/SMTP would send the app password of {address} in clear to "
                    f"{' and '.join(remote)}", "remove `tls: false` (it is for loopback test servers only)")
        raw_password = item.get("password") if isinstance(item, Mapping) else None
        password = raw_password if isinstance(raw_password, str) and raw_password else None
        if password is None and not is_secure(raw_password):
            s.error("password", "is required", f"pulumi config set --secret --path "
                    f"'{NAMESPACE}:warmup.seeds[{i}].password' <the seed's app password>")
        seeds.append(Seed(address, provider, imap_host, imap_port, smtp_host, smtp_port, tls,
                          s.str("spamFolder"), s.str("promotionsFolder"), s.int("maxPerDay", 20, 1, 500), i,
                          password, password is not None or is_secure(raw_password)))
    return WarmupExchange(header, share, start, until, pause, tuple(seeds))
