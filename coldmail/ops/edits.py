"""Stack-config edits for ``coldmail domain|mailbox|server add|remove`` and ``domain move``, as pure functions.

Each edit takes the stack's raw ``coldmail:*`` config (keys without the namespace, structured values as
Python objects), returns the edited copy plus the exact ``pulumi config set/rm --path`` operations that
make the same change in the stack file, and is validated with the one config schema before anything
is written. Leaf-level path writes (never a whole ``coldmail:servers`` value) keep encrypted values such
as ``servers[i].mailcowApiKey`` encrypted.
"""

from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from coldmail import model as cm
from coldmail.model.names import normalise_domain

NS = cm.NAMESPACE


@dataclass(frozen=True)
class ConfigOp:
    """One ``pulumi config set --path`` (``value``) or ``pulumi config rm --path`` (``value`` None)."""

    action: str
    path: str
    value: Optional[str] = None
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "path": self.path,
                "value": "[secret]" if self.secret and self.value is not None else self.value, "secret": self.secret}

    def __str__(self) -> str:
        d = self.to_dict()
        return f"rm  {self.path}" if self.action == "remove" else f"set {self.path} = {d['value']}"


@dataclass
class Edit:
    name: str
    target: list[str]
    raw: dict[str, Any]
    ops: list[ConfigOp] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    """The ``coldmail`` arguments that make this same edit, every default resolved (for "apply with …")."""

    def set(self, path: str, value: Any, secret: bool = False) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self.ops.append(ConfigOp("set", f"{NS}:{path}", text, secret))

    def remove(self, path: str) -> None:
        self.ops.append(ConfigOp("remove", f"{NS}:{path}"))


class EditRefused(cm.ConfigError):
    """The edit cannot apply (unknown domain, server still in use…); ``issues`` says why and the fix."""


def validate(edit: Edit) -> cm.StackConfig:
    """The edited config through the same schema as ``plan`` and the program. Raises ConfigError."""
    return cm.load(edit.raw)


def _current(raw: Mapping[str, Any]) -> cm.StackConfig:
    try:
        return cm.load(raw)
    except cm.ConfigError as exc:
        raise EditRefused(exc.issues) from exc


def _norm(name: str) -> str:
    """The schema's form of a domain or host name; a name that is none stays as typed for the schema to report."""
    try:
        return normalise_domain(name)
    except ValueError:
        return name.strip()


def _domain_index(raw: Mapping[str, Any], name: str) -> int:
    want = _norm(name)
    for i, d in enumerate(raw.get("domains") or []):
        if isinstance(d, Mapping) and isinstance(d.get("name"), str) and _norm(d["name"]) == want:
            return i
    known = ", ".join(str(d.get("name")) for d in raw.get("domains") or [] if isinstance(d, Mapping))
    raise EditRefused([cm.ConfigIssue(f"{NS}:domains", f"no domain {name!r} in this stack",
                                      f"use one of: {known or 'none defined'}")])


def _server_index(raw: Mapping[str, Any], name: str) -> int:
    for i, s in enumerate(raw.get("servers") or []):
        if isinstance(s, Mapping) and s.get("name") == name:
            return i
    known = ", ".join(str(s.get("name")) for s in raw.get("servers") or [] if isinstance(s, Mapping))
    raise EditRefused([cm.ConfigIssue(f"{NS}:servers", f"no server {name!r} in this stack",
                                      f"use one of: {known or 'none defined'}")])


# --------------------------------------------------------------------------------------------
# domains
# --------------------------------------------------------------------------------------------

def least_loaded_ip(stack: cm.StackConfig, server: cm.Server) -> int:
    """The floating IP with the fewest domains (lowest index on a tie); 0 when there is none."""
    if not server.floating_ips:
        return 0
    load = {i: 0 for i in range(1, server.floating_ips + 1)}
    for d in stack.domains_on(server.name):
        if d.ip in load:
            load[d.ip] += 1
    return min(load, key=lambda i: (load[i], i))


def domain_add(raw: Mapping[str, Any], name: str, server: Optional[str] = None, ip: Optional[int] = None,
               mailboxes: Optional[int] = None) -> Edit:
    """Add a domain, written as the schema normalises it (``NEW-ACME.COM`` → ``new-acme.com``)."""
    stack = _current(raw)
    name = _norm(name)
    edit = Edit("domain add", [name], copy.deepcopy(dict(raw)))
    if server is None:
        if not stack.servers:
            raise EditRefused([cm.ConfigIssue(f"{NS}:servers", "no server defined", "add one with `coldmail server add`")])
        server = min(stack.servers, key=lambda s: (len(stack.domains_on(s.name)), s.index)).name
    srv = next((s for s in stack.servers if s.name == server), None)
    if ip is None and srv is not None:
        ip = least_loaded_ip(stack, srv)
    domains = edit.raw.setdefault("domains", [])
    k = len(domains)
    entry: dict[str, Any] = {"name": name, "server": server}
    if ip is not None:
        entry["ip"] = ip
    entry["mailboxes"] = {"count": 3 if mailboxes is None else mailboxes}
    domains.append(entry)
    edit.set(f"domains[{k}].name", name)
    edit.set(f"domains[{k}].server", server)
    if ip is not None:
        edit.set(f"domains[{k}].ip", ip)
    edit.set(f"domains[{k}].mailboxes.count", entry["mailboxes"]["count"])
    edit.argv = ["domain", "add", name, "--server", str(server)] + (["--ip", str(ip)] if ip is not None else []) + [
        "--mailboxes", str(entry["mailboxes"]["count"])]
    return edit


def domain_move(raw: Mapping[str, Any], name: str, ip: int) -> Edit:
    """Send ``name`` from IP ``ip`` of its server; the program makes its SPF and relayhost follow the IP."""
    stack = _current(raw)
    i = _domain_index(raw, name)
    domain = next(d for d in stack.domains if d.name == _norm(str(raw["domains"][i].get("name"))))
    server = stack.server(domain.server)
    if not 0 <= ip <= server.floating_ips:
        raise EditRefused([cm.ConfigIssue(f"{NS}:domains[{i}].ip", f"server {server.name!r} has no IP {ip}",
                                          f"use 0 (primary) or 1..{server.floating_ips} (floating)"
                                          if server.floating_ips else "use 0: the server has no floating IP")])
    if domain.ip == ip:
        raise EditRefused([cm.ConfigIssue(f"{NS}:domains[{i}].ip", f"{name} already sends from IP {ip}",
                                          "pick another IP of the server")])
    edit = Edit("domain move", [name, str(ip)], copy.deepcopy(dict(raw)), argv=["domain", "move", name, "--ip", str(ip)])
    edit.raw["domains"][i]["ip"] = ip
    edit.set(f"domains[{i}].ip", ip)
    return edit


def domain_remove(raw: Mapping[str, Any], name: str) -> Edit:
    i = _domain_index(raw, name)
    edit = Edit("domain remove", [name], copy.deepcopy(dict(raw)), argv=["domain", "remove", name])
    del edit.raw["domains"][i]
    edit.remove(f"domains[{i}]")
    return edit


# --------------------------------------------------------------------------------------------
# mailboxes
# --------------------------------------------------------------------------------------------

def _split(address: str) -> tuple[str, str]:
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise EditRefused([cm.ConfigIssue(f"{NS}:domains", f"{address!r} is not an email address",
                                          "write it as local-part@domain, e.g. anna.berg@acme-growth.com")])
    return local, domain


def _explicit(stack: cm.StackConfig, raw_domain: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The domain's mailbox set as an explicit list (a count-based set expanded, so no address changes)."""
    mboxes = raw_domain.get("mailboxes")
    if isinstance(mboxes, list):
        return [dict(m) for m in mboxes]
    d = next(d for d in stack.domains if d.name == _norm(str(raw_domain.get("name"))))
    out = []
    for m in d.mailboxes:
        item: dict[str, Any] = {"localPart": m.local_part}
        if m.name:
            item["name"] = m.name
        if m.quota_mb != d.mailbox_quota_mb:
            item["quotaMb"] = m.quota_mb
        out.append(item)
    return out


def _write_list(edit: Edit, i: int, was_list: bool, old: list, new: list) -> None:
    """Append-only changes to an explicit list cost one op per new field; anything else rewrites it."""
    if was_list and new[: len(old)] == old:
        start = len(old)
    else:
        edit.remove(f"domains[{i}].mailboxes")
        start = 0
    for k in range(start, len(new)):
        for key in ("localPart", "name", "quotaMb"):
            if key in new[k]:
                edit.set(f"domains[{i}].mailboxes[{k}].{key}", new[k][key])


def mailbox_add(raw: Mapping[str, Any], addresses: Sequence[str], name: Optional[str] = None) -> Edit:
    stack = _current(raw)
    edit = Edit("mailbox add", list(addresses), copy.deepcopy(dict(raw)),
                argv=["mailbox", "add", *addresses] + (["--name", name] if name else []))
    by_domain: dict[int, list[str]] = {}
    for a in addresses:
        local, domain = _split(a)
        by_domain.setdefault(_domain_index(raw, domain), []).append(local)
    for i, locals_ in sorted(by_domain.items()):
        rd = edit.raw["domains"][i]
        was_list = isinstance(rd.get("mailboxes"), list)
        old = _explicit(stack, rd)
        new = old + [{"localPart": lp, **({"name": name} if name else {})} for lp in locals_]
        rd["mailboxes"] = new
        _write_list(edit, i, was_list, old, new)
    return edit


def mailbox_remove(raw: Mapping[str, Any], addresses: Sequence[str]) -> Edit:
    stack = _current(raw)
    edit = Edit("mailbox remove", list(addresses), copy.deepcopy(dict(raw)), argv=["mailbox", "remove", *addresses])
    by_domain: dict[int, set[str]] = {}
    for a in addresses:
        local, domain = _split(a)
        by_domain.setdefault(_domain_index(raw, domain), set()).add(local.lower())
    for i, drop in sorted(by_domain.items()):
        rd = edit.raw["domains"][i]
        was_list = isinstance(rd.get("mailboxes"), list)
        old = _explicit(stack, rd)
        have = {str(m.get("localPart", "")).lower() for m in old}
        missing = sorted(drop - have)
        if missing:
            raise EditRefused([cm.ConfigIssue(f"{NS}:domains[{i}].mailboxes",
                                              "no mailbox " + ", ".join(f"{m}@{rd.get('name')}" for m in missing),
                                              f"existing: {', '.join(sorted(have)) or 'none'}")])
        new = [m for m in old if str(m.get("localPart", "")).lower() not in drop]
        rd["mailboxes"] = new
        if was_list:
            # Highest index first, so each removal leaves the indexes still to remove in place.
            for k in sorted((k for k, m in enumerate(old) if str(m.get("localPart", "")).lower() in drop), reverse=True):
                edit.remove(f"domains[{i}].mailboxes[{k}]")
        else:
            _write_list(edit, i, False, old, new)
    return edit


# --------------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------------

def server_add(raw: Mapping[str, Any], name: str, hostname: str, floating_ips: int, ssh_public_key: str,
               admin_cidrs: Sequence[str], location: Optional[str] = None, server_type: Optional[str] = None,
               api_key: Optional[str] = None) -> Edit:
    """Add a server; its Mailcow API key is generated here and only ever written encrypted."""
    hostname = _norm(hostname)
    edit = Edit("server add", [name], copy.deepcopy(dict(raw)))
    edit.argv = ["server", "add", name, "--hostname", hostname, "--floating-ips", str(floating_ips),
                 "--ssh-public-key", ssh_public_key, *[a for c in admin_cidrs for a in ("--admin-cidr", c)]]
    edit.argv += (["--location", location] if location else []) + (["--server-type", server_type] if server_type else [])
    servers = edit.raw.setdefault("servers", [])
    k = len(servers)
    if k == 1 and isinstance(servers[0], Mapping):
        # Domains without `server` meant "the only server"; with two they must say which.
        for i, d in enumerate(edit.raw.get("domains") or []):
            if isinstance(d, dict) and d.get("server") is None:
                d["server"] = servers[0].get("name")
                edit.set(f"domains[{i}].server", servers[0].get("name"))
    entry: dict[str, Any] = {"name": name, "hostname": hostname}
    if location:
        entry["location"] = location
    if server_type:
        entry["serverType"] = server_type
    entry.update(floatingIps=floating_ips, sshPublicKey=ssh_public_key, adminCidrs=list(admin_cidrs))
    for key, value in entry.items():
        if key == "adminCidrs":
            for j, c in enumerate(value):
                edit.set(f"servers[{k}].adminCidrs[{j}]", c)
        else:
            edit.set(f"servers[{k}].{key}", value)
    entry["mailcowApiKey"] = api_key or secrets.token_hex(24)
    edit.set(f"servers[{k}].mailcowApiKey", entry["mailcowApiKey"], secret=True)
    servers.append(entry)
    return edit


def server_remove(raw: Mapping[str, Any], name: str) -> Edit:
    k = _server_index(raw, name)
    servers = [s for s in raw.get("servers") or [] if isinstance(s, Mapping)]
    users = []
    for i, d in enumerate(raw.get("domains") or []):
        if not isinstance(d, Mapping):
            continue
        if d.get("server") == name or (d.get("server") is None and len(servers) == 1):
            users.append(cm.ConfigIssue(f"{NS}:domains[{i}].server",
                                        f"domain {d.get('name')!r} still sends from server {name!r}",
                                        f"move it (`server:` another server) or `coldmail domain remove {d.get('name')}` first"))
    if users:
        raise EditRefused(users)
    edit = Edit("server remove", [name], copy.deepcopy(dict(raw)), argv=["server", "remove", name])
    del edit.raw["servers"][k]
    edit.remove(f"servers[{k}]")
    return edit


# --------------------------------------------------------------------------------------------
# DMARC
# --------------------------------------------------------------------------------------------

def dmarc_phase(raw: Mapping[str, Any], name: str, phase: str) -> Edit:
    """Set one domain's DMARC policy (``domains[i].dmarcPhase``: none, quarantine or reject)."""
    i = _domain_index(raw, name)
    edit = Edit("dmarc advance", [name], copy.deepcopy(dict(raw)), argv=["dmarc", "advance", name])
    edit.raw["domains"][i]["dmarcPhase"] = phase
    edit.set(f"domains[{i}].dmarcPhase", phase)
    return edit
