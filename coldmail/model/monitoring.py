"""``coldmail:checks``: how the health checks run (resolver, Spamhaus DQS key, alerts, schedule, metrics,
the on-server agent and Google Postmaster Tools).

Everything has a default, so a stack without ``coldmail:checks`` is checked and monitored as documented in
the README. Three values are secrets and are only ever read from an encrypted config value or the
environment: ``spamhausDqsKey`` (it is part of every query name), ``notifyUrls`` (apprise URLs carry
tokens) and the Postmaster ``clientSecret``/``refreshToken``.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .errors import ConfigIssue
from .reader import NAMESPACE, Section, is_secure

#: Gmail's inbound MX: what "outbound port 25 works" means for a cold-email sender.
DEFAULT_OUTBOUND_PROBE = "gmail-smtp-in.l.google.com:25"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
POSTMASTER_API_URL = "https://gmailpostmastertools.googleapis.com"
#: The environment fallbacks for the secrets, for runs that cannot decrypt the stack config.
ENV_DQS_KEY = "COLDMAIL_SPAMHAUS_DQS_KEY"
ENV_POSTMASTER_CLIENT_SECRET = "COLDMAIL_POSTMASTER_CLIENT_SECRET"
ENV_POSTMASTER_REFRESH_TOKEN = "COLDMAIL_POSTMASTER_REFRESH_TOKEN"

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_JOB_NAME = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$")
_DQS_KEY = re.compile(r"^[a-z0-9]{26}$")


def parse_duration(text: str) -> _dt.timedelta:
    """``30m``, ``1h``, ``24h``, ``1d``, ``1w`` as a timedelta.

    :raises ValueError: naming the accepted forms.
    """
    m = _DURATION.match(str(text).strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 30m, 1h, 24h or 7d")
    return _dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def parse_nameserver(text: str, default_port: int = 53) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address as ``(address, port)``.

    :raises ValueError: naming the accepted forms.
    """
    text = str(text).strip()
    host, port = text, default_port
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?", text)
    if m:
        host, port = m.group(1), int(m.group(2) or default_port)
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        if not p.isdigit():
            raise ValueError(f"{text!r}: the port must be a number")
        port = int(p)
    try:
        address = ipaddress.ip_address(host).compressed
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address with an optional port, e.g. 127.0.0.1:5353 "
                         "or [::1]:5353") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: the port must be 1..65535")
    return address, port


@dataclass(frozen=True)
class PostmasterConfig:
    """The user's own OAuth client for the Postmaster Tools API (scope ``postmaster.readonly``)."""

    client_id: str
    client_secret: Optional[str] = field(default=None, repr=False, compare=False)
    """A secret: None when it is encrypted in a file nobody decrypted (then the environment supplies it)."""
    refresh_token: Optional[str] = field(default=None, repr=False, compare=False)
    """A secret, as :attr:`client_secret`."""
    token_url: str = GOOGLE_TOKEN_URL
    api_url: str = POSTMASTER_API_URL


@dataclass(frozen=True)
class ChecksConfig:
    """``coldmail:checks``; the defaults are what a stack without the section gets."""

    resolver: tuple[tuple[str, int], ...] = ()
    """Recursive resolvers for blacklists and lookups; empty means the system's (the agent uses Mailcow's unbound)."""
    dqs_key: Optional[str] = field(default=None, repr=False, compare=False)
    dqs_key_is_set: bool = False
    notify_urls: tuple[str, ...] = field(default=(), repr=False, compare=False)
    notify_urls_are_set: bool = False
    schedule: tuple[tuple[str, _dt.timedelta], ...] = ()
    """Overrides of the on-server agent's job intervals, by job name (each job brings its default)."""
    concurrency: int = 32
    timeout: float = 5.0
    outbound_probe: tuple[str, int] = ("gmail-smtp-in.l.google.com", 25)
    metrics_textfile: Optional[str] = None
    metrics_port: Optional[int] = None
    agent: bool = True
    postmaster: Optional[PostmasterConfig] = None

    def interval(self, job: str, default: _dt.timedelta) -> _dt.timedelta:
        return dict(self.schedule).get(job, default)


KEYS = ("resolver", "spamhausDqsKey", "notifyUrls", "schedule", "concurrency", "timeout", "outboundProbe",
        "metrics", "agent", "postmaster")


def _secret(r: Section, key: str) -> tuple[Optional[str], bool]:
    """(clear value or None, whether it is set); a non-string non-secret value is an issue."""
    v = r.data.get(key)
    if v is None:
        return None, False
    if is_secure(v):
        return None, True
    if not isinstance(v, str) or not v.strip():
        r.error(key, "must be a string", f"set it with: pulumi config set --secret --path '{r.sub(key)}' <value>")
        return None, False
    return v.strip(), True


def read_checks(issues: list[ConfigIssue], data: Any) -> ChecksConfig:
    r = Section(issues, f"{NAMESPACE}:checks", data, KEYS)
    resolver = []
    for i, ns in enumerate(r.list("resolver")):
        try:
            resolver.append(parse_nameserver(str(ns)))
        except ValueError as exc:
            r.error(f"resolver[{i}]", str(exc), "write a resolver address like 127.0.0.1 or 10.0.0.2:5353")

    dqs_key, dqs_set = _secret(r, "spamhausDqsKey")
    if dqs_key is not None and not _DQS_KEY.match(dqs_key):
        r.error("spamhausDqsKey", "is not a Spamhaus DQS key (26 lowercase letters and digits)",
                "copy the key from the Spamhaus DQS portal")
        dqs_key, dqs_set = None, False

    urls: list[str] = []
    urls_set = False
    raw_urls = r.data.get("notifyUrls")
    if is_secure(raw_urls):
        urls_set = True
    else:
        for i, u in enumerate(r.list("notifyUrls")):
            if is_secure(u):
                urls_set = True
            elif isinstance(u, str) and "://" in u:
                urls.append(u.strip())
                urls_set = True
            else:
                r.error(f"notifyUrls[{i}]", "is not an apprise URL",
                        "write it like slack://T000/B000/XXXX or json://host/path, as a secret")

    schedule: dict[str, _dt.timedelta] = {}
    raw_schedule = r.data.get("schedule")
    # Job names are open-ended (every capability adds its own), so any key is known here.
    sched = Section(issues, r.sub("schedule"), raw_schedule,
                    [str(k) for k in raw_schedule] if isinstance(raw_schedule, Mapping) else ())
    for job, every in sched.data.items():
        if not _JOB_NAME.match(str(job)):
            sched.error(str(job), "is not a job name", "use a dotted lowercase name such as checks.hourly")
            continue
        try:
            schedule[str(job)] = parse_duration(str(every))
        except ValueError as exc:
            sched.error(str(job), str(exc), "write an interval like 1h or 24h")

    probe = r.str("outboundProbe", DEFAULT_OUTBOUND_PROBE) or DEFAULT_OUTBOUND_PROBE
    host, _, port = probe.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        r.error("outboundProbe", f"{probe!r} is not host:port", f"use {DEFAULT_OUTBOUND_PROBE}")
        host, port = DEFAULT_OUTBOUND_PROBE.rsplit(":", 1)

    metrics = Section(issues, r.sub("metrics"), r.data.get("metrics"), ("textfile", "port"))
    metrics_port = metrics.int("port", 0, 1, 65535) or None
    textfile = metrics.str("textfile")
    if textfile and not textfile.endswith(".prom"):
        metrics.error("textfile", f"{textfile!r} does not end in .prom",
                      "node_exporter's textfile collector only reads *.prom files")

    return ChecksConfig(
        resolver=tuple(resolver), dqs_key=dqs_key, dqs_key_is_set=dqs_set, notify_urls=tuple(urls),
        notify_urls_are_set=urls_set, schedule=tuple(sorted(schedule.items())),
        concurrency=r.int("concurrency", 32, 1, 256), timeout=r.float("timeout", 5.0, 0.1, 60.0),
        outbound_probe=(host, int(port)), metrics_textfile=textfile, metrics_port=metrics_port,
        agent=r.bool("agent", True), postmaster=_read_postmaster(issues, r))


def _read_postmaster(issues: list[ConfigIssue], parent: Section) -> Optional[PostmasterConfig]:
    if parent.data.get("postmaster") is None:
        return None
    r = Section(issues, parent.sub("postmaster"), parent.data.get("postmaster"),
                ("clientId", "clientSecret", "refreshToken", "tokenUrl", "apiUrl"))
    client_id = r.str("clientId", required=True, fix="paste the OAuth client id of your Google Cloud project")
    secret, secret_set = _secret(r, "clientSecret")
    token, token_set = _secret(r, "refreshToken")
    for key, is_set in (("clientSecret", secret_set), ("refreshToken", token_set)):
        if not is_set:
            r.error(key, "is required", f"pulumi config set --secret --path '{r.sub(key)}' <value>")
    for key in ("tokenUrl", "apiUrl"):
        url = r.str(key)
        if url and not url.startswith(("https://", "http://127.", "http://[::1]")):
            r.error(key, f"{url!r} is not an https URL", "remove it to use Google's endpoint")
    return PostmasterConfig(client_id or "", secret, token, r.str("tokenUrl", GOOGLE_TOKEN_URL) or GOOGLE_TOKEN_URL,
                            (r.str("apiUrl", POSTMASTER_API_URL) or POSTMASTER_API_URL).rstrip("/"))
