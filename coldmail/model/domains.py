"""``coldmail:domains``: the sending domains, where each sends from, and their mailboxes."""

from __future__ import annotations

import string
from typing import Any, Mapping, Optional

from .errors import ConfigIssue
from .mailcow import display_name_problem, stored_display_name
from .names import (in_zone, local_part_problem, name_part, registrable_domain, suggest_local_part,
                    unicode_domain)
from .reader import NAMESPACE, Section
from .sections import DMARC_PHASES
from .servers import check_fqdn
from .types import Domain, Mailbox, Server

#: The placeholders a mailbox naming pattern may use.
PATTERN_FIELDS = ("first", "last", "f", "l", "n")
KEYS = ("name", "server", "ip", "zone", "zoneId", "mailboxes", "mailboxQuotaMb", "description", "dmarcPhase")


def render_local_part(pattern: str, first: str, last: str, n: int) -> str:
    """Fill a mailbox naming pattern such as ``{first}.{last}``; the result is lowercase ASCII."""
    f, l = name_part(first), name_part(last)
    return pattern.format(first=f, last=l, f=f[:1], l=l[:1], n=n).lower()


def _read_mailboxes(r: Section, data: Any, domain: str, quota: int, names_default: Mapping) -> list[Mailbox]:
    path = "mailboxes"
    out: list[Mailbox] = []
    if isinstance(data, list):
        for k, item in enumerate(data):
            mr = Section(r.issues, r.sub(f"{path}[{k}]"), item, ("localPart", "name", "quotaMb"))
            lp = mr.str("localPart", required=True, fix="set `localPart`, e.g. `anna.berg`") or ""
            if lp:
                why = local_part_problem(lp)
                if why:
                    mr.error("localPart", f"{lp!r} {why}", f"use {suggest_local_part(lp)!r}")
            name = mr.str("name", "") or ""
            why = display_name_problem(name)
            if why:
                mr.error("name", f"{name!r} {why}", f"write it as Mailcow stores it: {stored_display_name(name)!r}")
            out.append(Mailbox(lp, name, mr.int("quotaMb", quota, 1, 102400), domain))
        return out
    mr = Section(r.issues, r.sub(path), data, ("count", "pattern", "firstNames", "lastNames"))
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
    refused = False
    for n in range(count):
        first = str(firsts[n % len(firsts)]) if firsts else ""
        last = str(lasts[n % len(lasts)]) if lasts else ""
        lp = render_local_part(pattern, first, last, n + 1)
        display = " ".join(p for p in (first.strip().title(), last.strip().title()) if p)
        why = display_name_problem(display)
        if why and not refused:
            refused = True
            f, l = first.strip(), last.strip()
            names_path = "firstNames" if f.startswith("<") or (not l and f.endswith(">")) else "lastNames"
            where = mr.sub(names_path) if mr.data.get(names_path) else f"{NAMESPACE}:names.{names_path}"
            r.issues.append(ConfigIssue(where, f"the display name {display!r} {why}",
                                        "remove the leading '<' and trailing '>' from the names"))
        out.append(Mailbox(lp, display, quota, domain))
    return out


def read_domains(issues: list[ConfigIssue], items: list, servers: list[Server],
                 names_default: Mapping, dmarc_default: str) -> list[Domain]:
    by_name: dict[str, Server] = {}
    for s in servers:
        by_name.setdefault(s.name, s)
    hostnames = {h: s.name for s in servers for h in (s.hostname, *s.ptr_names) if h}
    seen: dict[str, int] = {}
    domains: list[Domain] = []
    for i, item in enumerate(items):
        r = Section(issues, f"{NAMESPACE}:domains[{i}]", item, KEYS)
        raw_name = r.str("name", required=True, fix="set the domain, e.g. `name: acme-mail.com`")
        name = check_fqdn(r, "name", raw_name, "domain") if raw_name else None
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
        server: Optional[Server] = by_name.get(server_name or "")
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
        if not in_zone(name, zone):
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
        unicode_name = unicode_domain(name)
        domains.append(Domain(
            name=name, unicode_name=unicode_name, server=server.name if server else (server_name or ""), ip=ip,
            zone=zone, zone_id=r.str("zoneId"), mailboxes=tuple(mailboxes), mailbox_quota_mb=quota,
            description=r.str("description", f"coldmail: {unicode_name}") or "", dmarc_phase=phase, index=i))
    return domains
