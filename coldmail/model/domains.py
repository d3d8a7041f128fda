"""``coldmail:domains``: the sending domains, where each sends from, and their mailboxes."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from .errors import ConfigIssue
from .mailcow import display_name_problem, stored_display_name
from .names import (in_zone, local_part_problem, name_part, normalise_domain, registrable_domain,
                    suggest_local_part, unicode_domain)
from .reader import NAMESPACE, Section
from .records import GOOGLE_VERIFICATION_PREFIX
from .sections import DMARC_PHASES
from .types import Domain, Mailbox, Server

#: The placeholders a mailbox naming pattern may use, each written bare: ``{first}``, never ``{first!r}``.
PATTERN_FIELDS = ("first", "last", "f", "l", "n")
PATTERN_FIX = "use {first}, {last}, {f}, {l} and {n} joined by . _ or -, e.g. `{first}.{last}`"
KEYS = ("name", "server", "ip", "zone", "zoneId", "mailboxes", "mailboxQuotaMb", "description", "dmarcPhase",
        "postmasterToken")
# Google Postmaster Tools hands out base64url tokens (43 characters today); the bounds leave room for change.
_POSTMASTER_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
_NAME_LISTS = {"first": "firstNames", "f": "firstNames", "last": "lastNames", "l": "lastNames"}
# Stand-ins for a pattern's own check: any pattern that fails with these fails with every name.
_SAMPLE = ("anna", "berg")

Pattern = Sequence[tuple[str, Optional[str]]]


@dataclass(frozen=True)
class NameList:
    """A list of names for mailbox patterns and the config path it was read from."""

    path: str
    items: list


def parse_pattern(pattern: str) -> Pattern:
    """A naming pattern as ``(literal text, placeholder or None)`` pieces.

    :raises ValueError: naming why: not a format string, a placeholder outside :data:`PATTERN_FIELDS`,
        a conversion (``{first!r}``) or a format spec (``{first:>70}``), or no placeholder at all.
    """
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(f"is not a pattern ({exc}); write a literal brace as {{{{ or }}}}") from None
    pieces: list[tuple[str, Optional[str]]] = []
    for literal, field, spec, conversion in parsed:
        if field is not None and (field not in PATTERN_FIELDS or spec or conversion):
            written = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"uses {written}; only {{first}}, {{last}}, {{f}}, {{l}} and {{n}} are allowed, "
                             "with nothing after the name")
        pieces.append((literal, field))
    if not any(field for _, field in pieces):
        raise ValueError("has no placeholder, so every mailbox would get the same address")
    return pieces


def render_local_part(pieces: Pattern, first: str, last: str, n: int) -> str:
    """Fill a parsed pattern: names folded to lowercase ASCII letters and digits, ``n`` 1-based."""
    f, l = name_part(first), name_part(last)
    values = {"first": f, "last": l, "f": f[:1], "l": l[:1], "n": str(n)}
    return "".join(literal + (values[field] if field else "") for literal, field in pieces)


def _explicit_mailboxes(r: Section, data: list, domain: str, quota: int) -> list[Mailbox]:
    out = []
    for k, item in enumerate(data):
        mr = Section(r.issues, r.sub(f"mailboxes[{k}]"), item, ("localPart", "name", "quotaMb"))
        lp = mr.str("localPart", required=True, fix="set `localPart`, e.g. `anna.berg`") or ""
        why = local_part_problem(lp) if lp else None
        if why:
            mr.error("localPart", f"{lp!r} {why}", f"use {suggest_local_part(lp)!r}")
        name = mr.str("name", "") or ""
        why = display_name_problem(name)
        if why:
            mr.error("name", f"{name!r} {why}", f"write it as Mailcow stores it: {stored_display_name(name)!r}")
        out.append(Mailbox(lp, name, mr.int("quotaMb", quota, 1, 102400), domain))
    return out


def _names(mr: Section, key: str, default: NameList) -> NameList:
    """The domain's own list when it has one, else the stack-wide ``coldmail:names`` list."""
    own = mr.list(key)
    return NameList(mr.sub(key), own) if own else default


def _generated_mailboxes(r: Section, data: Mapping, domain: str, quota: int,
                         names: Mapping[str, NameList]) -> list[Mailbox]:
    mr = Section(r.issues, r.sub("mailboxes"), data, ("count", "pattern", "firstNames", "lastNames"))
    count = mr.int("count", 0, 1, 500, fix="set how many mailboxes this domain gets, 1..500")
    pattern = mr.str("pattern", "{first}.{last}") or "{first}.{last}"
    lists = {key: _names(mr, key, names[key]) for key in ("firstNames", "lastNames")}
    try:
        pieces = parse_pattern(pattern)
    except ValueError as exc:
        mr.error("pattern", f"{pattern!r} {exc}", PATTERN_FIX)
        return []
    sample = render_local_part(pieces, *_SAMPLE, 1)
    why = local_part_problem(sample)
    if why:
        mr.error("pattern", f"{pattern!r} gives local parts like {sample!r}, and {sample!r} {why}", PATTERN_FIX)
        return []
    used = sorted({_NAME_LISTS[field] for _, field in pieces if field in _NAME_LISTS})
    for key in used:
        if not lists[key].items and not _reported(r.issues, lists[key].path):
            mr.error(key, "is needed by the pattern but empty",
                     f"list names here or under `{NAMESPACE}:names`, or use a pattern like `{{n}}` only")
    if any(not lists[key].items for key in used):
        return []

    out: list[Mailbox] = []
    flagged: set[str] = set()

    def flag(path: str, message: str, fix: str) -> None:
        if path not in flagged:
            flagged.add(path)
            r.issues.append(ConfigIssue(path, message, fix))

    for n in range(count):
        picked = {key: (f"{lists[key].path}[{n % len(lists[key].items)}]", lists[key].items[n % len(lists[key].items)])
                  for key in used}
        for path, value in picked.values():
            if not isinstance(value, str):
                flag(path, f"must be a string, got {value!r}", "quote the name")
        first = str(picked["firstNames"][1]) if "firstNames" in picked else ""
        last = str(picked["lastNames"][1]) if "lastNames" in picked else ""
        lp = render_local_part(pieces, first, last, n + 1)
        display = " ".join(p for p in (first.strip().title(), last.strip().title()) if p)
        why = local_part_problem(lp)
        vanished = [(path, value) for path, value in picked.values() if not name_part(str(value))]
        # A name of which nothing survives folding to ASCII is at fault, rather than the pattern.
        for path, value in vanished if why else ():
            flag(path, f"{value!r} has no letter a-z or digit once folded to ASCII: mailbox {n + 1} would be "
                 f"{lp!r}, and {lp!r} {why}", "write the name in Latin letters (a transliteration such as `Ivan` for "
                 "`Иван`), or list the mailboxes with an explicit `localPart`")
        if why and not vanished:
            flag(mr.sub("pattern"), f"{pattern!r} gives {lp!r} for {display or f'mailbox {n + 1}'}, and {lp!r} {why}",
                 "shorten the pattern or the names, or list the mailboxes with an explicit `localPart`")
        why = display_name_problem(display)
        if why:
            # Mailcow trims a leading '<' of the first name or a trailing '>' of the last: blame that list.
            at = picked.get("firstNames" if first.strip().startswith("<") or not last.strip() else "lastNames")
            flag(at[0] if at else mr.sub("pattern"), f"the display name {display!r} {why}",
                 "remove the leading '<' and trailing '>' from the names")
        out.append(Mailbox(lp, display, quota, domain))
    return out


def _reported(issues: list[ConfigIssue], path: str) -> bool:
    """True when an issue at ``path`` is already reported: checks that depend on it would only echo it."""
    return any(i.path == path for i in issues)


def _domain_name(r: Section) -> Optional[str]:
    raw = r.str("name", required=True, fix="set the domain, e.g. `name: acme-mail.com`")
    if raw is None:
        return None
    try:
        return normalise_domain(raw)
    except ValueError as exc:
        r.error("name", f"domain {raw!r} is invalid: {exc}",
                "write the bare domain you send from, such as acme-mail.com: no spaces, no trailing dot")
        return None


def read_domains(issues: list[ConfigIssue], items: list, servers: list[Server], names: Mapping[str, NameList],
                 dmarc_default: str, max_mailboxes: int) -> list[Domain]:
    """Every valid domain; every problem of every entry goes to ``issues``.

    ``names`` holds the stack-wide ``firstNames`` and ``lastNames`` lists; ``max_mailboxes`` is
    ``coldmail:limits.maxMailboxesPerDomain``.
    """
    by_name: dict[str, Server] = {}
    for s in servers:
        by_name.setdefault(s.name, s)
    no_servers = not servers and _reported(issues, f"{NAMESPACE}:servers")
    hostnames = {h: s.name for s in servers for h in (s.hostname, *s.ptr_names) if h}
    seen: dict[str, int] = {}
    domains: list[Domain] = []
    for i, item in enumerate(items):
        r = Section(issues, f"{NAMESPACE}:domains[{i}]", item, KEYS)
        name = _domain_name(r)
        if name is not None:
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
        if server is None and not no_servers:
            known = ", ".join(by_name)
            r.error("server", f"unknown server {server_name!r}" if server_name else "is required with several servers",
                    f"use one of: {known}")
        if server is not None and not _reported(issues, f"{NAMESPACE}:servers[{server.index}].floatingIps"):
            if not r.has("ip") and server.floating_ips:
                r.error("ip", f"is required: server {server.name!r} has {server.floating_ips} floating IPs",
                        f"pick the sending IP: 1..{server.floating_ips} (or 0 for the primary IP)")
            ip = r.int("ip", 0, 0, server.floating_ips,
                       fix=f"server {server.name!r} has IPs 0..{server.floating_ips} (0 = primary, 1..N floating)")
        else:
            ip = r.int("ip", 0, 0)

        zone = r.str("zone") or (registrable_domain(name) if name else None) or name or ""
        if name and not in_zone(name, zone):
            r.error("zone", f"domain {name!r} is not inside zone {zone!r}", f"set `zone: {registrable_domain(name)}` or remove it")
        quota = r.int("mailboxQuotaMb", 1024, 1, 102400, fix="use a quota in MiB such as 1024")
        data = item.get("mailboxes") if isinstance(item, Mapping) else None
        address_domain = name or "invalid.example"
        if isinstance(data, list):
            mailboxes = _explicit_mailboxes(r, data, address_domain, quota)
        elif isinstance(data, Mapping):
            mailboxes = _generated_mailboxes(r, data, address_domain, quota, names)
        else:
            mailboxes = []
            if data is None:
                r.error("mailboxes", "is required", "add `mailboxes: {count: 3}` or an explicit list")
            else:
                r.error("mailboxes", f"must be a mapping or a list, got {type(data).__name__}",
                        "write `mailboxes: {count: 3}` or a list of `{localPart: …}`")
        if len(mailboxes) > max_mailboxes:
            where = "mailboxes.count" if isinstance(data, Mapping) else "mailboxes"
            r.error(where, f"{len(mailboxes)} mailboxes, more than {NAMESPACE}:limits.maxMailboxesPerDomain "
                    f"({max_mailboxes})", "spread them over more domains (one complaint spike burns every mailbox "
                    f"of a domain), or raise `{NAMESPACE}:limits.maxMailboxesPerDomain`")
        local_seen: dict[str, int] = {}
        for k, m in enumerate(mailboxes):
            if local_part_problem(m.local_part):  # reported where it was made
                continue
            if m.local_part in local_seen:
                r.error(f"mailboxes[{k}]", f"address {m.address} appears twice (also mailboxes[{local_seen[m.local_part]}])",
                        "give each mailbox its own local part, or add {n} to the pattern")
            local_seen.setdefault(m.local_part, k)
        phase = r.choice("dmarcPhase", dmarc_default, DMARC_PHASES)
        description = r.str("description")
        zone_id = r.str("zoneId")
        token = r.str("postmasterToken")
        if token is not None:
            token = token.removeprefix(GOOGLE_VERIFICATION_PREFIX)
            if not _POSTMASTER_TOKEN.match(token):
                r.error("postmasterToken", f"{token!r} is not a Google Postmaster Tools verification token",
                        f"copy the value after `{GOOGLE_VERIFICATION_PREFIX}` from Postmaster Tools' TXT record "
                        "(letters, digits, - and _)")
                token = None
        if name is None:
            continue
        unicode_name = unicode_domain(name)
        domains.append(Domain(
            name=name, unicode_name=unicode_name, server=server.name if server else (server_name or ""), ip=ip,
            zone=zone, zone_id=zone_id, mailboxes=tuple(mailboxes), mailbox_quota_mb=quota,
            description=f"coldmail: {unicode_name}" if description is None else description, dmarc_phase=phase,
            index=i, postmaster_token=token or None))
    return domains
