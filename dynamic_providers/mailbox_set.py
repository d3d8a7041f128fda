"""``MailcowMailboxSet``: every mailbox of one domain as one resource.

One resource per domain keeps a 500-domain stack far below the SDK's dynamic-resource limits and lets
an unchanged set diff locally with no API call. Passwords are write-only: they arrive as a secret input
and only a fingerprint (``sha256("<address>:<password>")``, first 16 hex digits) reaches the outputs, so
a changed password is detected without storing it. The fingerprint is unsalted beyond the address, which
is fine for the generated random passwords coldmail uses and not meant for human-chosen ones.

Ownership rules (read → compare → act):

* ``create`` reads the domain's live mailboxes once. A live mailbox that matches the desired one
  (name, quota, active) is adopted and its password set; one that differs is a conflict and nothing is
  written, because it was not made by this stack. Re-running a failed create therefore converges with no
  duplicate: whatever the failed run created matches and is adopted.
* ``update`` acts only on the difference between the stored outputs and the inputs: deletes first (they
  free Mailcow's per-domain limits), then edits, then adds, without reading first. An add that meets
  ``object_exists`` reads that one mailbox and adopts it when it matches (a previous run that failed half
  way), otherwise it is a conflict. Adding one mailbox costs one write.
* Mailboxes in the domain that the stack never owned are never touched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult

from coldmail.model.names import local_part_problem

from .base import (CONNECTION_KEYS, UNKNOWN, Inputs, MailcowProvider, SafeResource, changed_keys,
                   connection_props, is_unknown, plain)
from .client import Mailbox, MailcowClient
from .errors import MailcowApiError, MailcowConflict

ATTRS = ("name", "quota_mb", "active")
#: Stored for the policy pack and the warmup; never sent to Mailcow.
INFORMATIONAL = ("daily_send_limit",)


def password_fingerprint(address: str, password: str) -> str:
    """What the outputs keep instead of a password: enough to notice a change, not to log in."""
    return hashlib.sha256(f"{address.lower()}:{password}".encode()).hexdigest()[:16]


def _entry(m: Mapping[str, Any]) -> dict[str, Any]:
    return {"local_part": m["local_part"], "name": m["name"], "quota_mb": m["quota_mb"], "active": m["active"]}


def _live_attrs(m: Mailbox) -> dict[str, Any]:
    return {"name": m.name, "quota_mb": m.quota_mb, "active": m.active}


def _differs(live: Mailbox, want: Mapping[str, Any]) -> list[str]:
    have = _live_attrs(live)
    return [k for k in ATTRS if have[k] != want[k]]


def desired(news: Mapping[str, Any]) -> Optional[dict[str, dict[str, Any]]]:
    """local_part → wanted entry with its password fingerprint; ``None`` while anything is unknown."""
    mailboxes, passwords = news.get("mailboxes"), news.get("passwords")
    if is_unknown(mailboxes) or is_unknown(passwords) or not isinstance(mailboxes, list):
        return None
    passwords = passwords or {}
    out = {}
    for m in mailboxes:
        address = f"{m['local_part']}@{news['domain']}"
        out[m["local_part"]] = {**_entry(m), "password_fingerprint": password_fingerprint(address,
                                                                                          passwords[m["local_part"]])}
    return out


def current(olds: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["local_part"]: dict(m) for m in (olds.get("mailboxes") or []) if isinstance(m, Mapping)}


@dataclass
class Plan:
    """The writes that turn the stored set into the wanted set."""

    add: list[str] = field(default_factory=list)
    edit: dict[str, list[str]] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.add or self.edit or self.delete)


def plan(have: Mapping[str, Mapping], want: Mapping[str, Mapping]) -> Plan:
    p = Plan()
    for lp, w in want.items():
        h = have.get(lp)
        if h is None:
            p.add.append(lp)
            continue
        fields = [k for k in (*ATTRS, "password_fingerprint") if h.get(k) != w[k]]
        if fields:
            p.edit[lp] = fields
    p.delete = [lp for lp in have if lp not in want]
    return p


class MailcowMailboxSetProvider(MailcowProvider):
    """Keeps a domain's mailboxes equal to the stack's list, touching only what changed."""

    def check(self, _olds: dict, news: dict) -> CheckResult:
        r = Inputs(news)
        r.connection()
        r.domain()
        if r.raw.get("daily_send_limit") is not None:
            r.integer("daily_send_limit", 0, 0)
        boxes = r.raw.get("mailboxes")
        passwords = r.raw.get("passwords")
        if not is_unknown(passwords) and passwords is not None and not isinstance(passwords, Mapping):
            r.fail("passwords", "must be a map of local part to password")
            passwords = None
        if is_unknown(boxes):
            return CheckResult(r.out, r.failures)
        if not isinstance(boxes, list):
            r.fail("mailboxes", "must be a list of {local_part, name, quota_mb, active}")
            return CheckResult(r.out, r.failures)
        seen: dict[str, int] = {}
        out = []
        for i, m in enumerate(boxes):
            path = f"mailboxes[{i}]"
            if not isinstance(m, Mapping):
                r.fail(path, "must be an object with local_part, name, quota_mb, active")
                continue
            lp = m.get("local_part")
            why = local_part_problem(lp.strip().lower()) if isinstance(lp, str) else "must be a string"
            if why:
                r.fail(f"{path}.local_part", f"{lp!r} {why}")
                continue
            lp = lp.strip().lower()
            if lp in seen:
                r.fail(f"{path}.local_part", f"{lp!r} appears twice (also mailboxes[{seen[lp]}])")
                continue
            seen[lp] = i
            name = m.get("name", "")
            if not isinstance(name, str):
                r.fail(f"{path}.name", f"must be a string, got {name!r}")
                name = ""
            quota = m.get("quota_mb")
            if isinstance(quota, bool) or not isinstance(quota, (int, float)) or int(quota) != quota or quota < 0:
                r.fail(f"{path}.quota_mb", f"must be a whole number of MiB, 0 = unlimited, got {quota!r}")
                quota = 0
            active = m.get("active", True)
            if not isinstance(active, bool):
                r.fail(f"{path}.active", f"must be true or false, got {active!r}")
                active = True
            if isinstance(passwords, Mapping):
                pw = passwords.get(lp)
                if not is_unknown(pw) and (not isinstance(pw, str) or not pw):
                    r.fail("passwords", f"has no password for {lp!r}")
            out.append({"local_part": lp, "name": name, "quota_mb": int(quota), "active": active})
        if passwords is None:
            r.fail("passwords", "is required: a secret map of local part to password")
        r.out["mailboxes"] = out
        return CheckResult(r.out, r.failures)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        olds, news = plain(olds), plain(news)
        keys = changed_keys(olds, news, ("domain", *INFORMATIONAL, *CONNECTION_KEYS))
        want = desired(news)
        if want is None or plan(current(olds), want):
            keys.append("mailboxes")
        return DiffResult(changes=bool(keys), replaces=["domain"] if "domain" in keys else [],
                          delete_before_replace=False)

    # ---------------------------------------------------------------- writes

    def _adopt(self, c: MailcowClient, live: Mailbox, want: Mapping[str, Any], password: str) -> None:
        # The live password is unknowable; setting it makes the stored fingerprint true.
        c.update_mailbox(live.address, password=password)

    def _add(self, c: MailcowClient, domain: str, want: Mapping[str, Any], password: str) -> None:
        try:
            c.create_mailbox(want["local_part"], domain, name=want["name"], password=password,
                             quota_mb=want["quota_mb"], active=want["active"])
        except MailcowApiError as exc:
            if exc.msg_key != "object_exists":
                raise
            live = c.get_mailbox(f"{want['local_part']}@{domain}")
            if live is None:
                raise
            self._check_foreign(domain, [(live, want)])
            self._adopt(c, live, want, password)

    @staticmethod
    def _check_foreign(domain: str, pairs: list[tuple[Mailbox, Mapping[str, Any]]]) -> None:
        conflicts = [(live, _differs(live, want), want) for live, want in pairs if _differs(live, want)]
        if not conflicts:
            return
        lines = "; ".join(f"{live.address} has " + ", ".join(f"{k}={_live_attrs(live)[k]!r} (stack: {want[k]!r})"
                                                             for k in diff)
                          for live, diff, want in conflicts)
        raise MailcowConflict(
            f"{len(conflicts)} mailbox(es) of {domain} already exist in Mailcow with other settings and were not "
            f"created by this stack: {lines}. coldmail will not take over someone else's mailbox: delete or "
            "rename it in Mailcow, or make the stack's entry match it, then run again")

    def _outputs(self, props: Mapping[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
        out = self.state(props)
        out.pop("passwords", None)
        out["mailboxes"] = entries
        out["addresses"] = [f"{e['local_part']}@{props['domain']}" for e in entries]
        return out

    def create(self, props: dict) -> CreateResult:
        props = self.state(props)
        domain, passwords = props["domain"], props["passwords"]
        want = desired(props) or {}
        with self.client(props) as c:
            live = {m.local_part: m for m in c.list_mailboxes(domain)}
            self._check_foreign(domain, [(live[lp], w) for lp, w in want.items() if lp in live])
            for lp, w in want.items():
                if lp in live:
                    self._adopt(c, live[lp], w, passwords[lp])
                else:
                    self._add(c, domain, w, passwords[lp])
        return CreateResult(domain, self._outputs(props, list(want.values())))

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        news = self.state(news)
        domain, passwords = news["domain"], news["passwords"]
        have, want = current(olds), desired(news) or {}
        todo = plan(have, want)
        if todo:
            with self.client(news) as c:
                self._delete(c, [f"{lp}@{domain}" for lp in todo.delete])
                for lp, fields in todo.edit.items():
                    self._edit(c, domain, want[lp], fields, passwords[lp])
                for lp in todo.add:
                    self._add(c, domain, want[lp], passwords[lp])
        return UpdateResult(self._outputs(news, list(want.values())))

    def _edit(self, c: MailcowClient, domain: str, want: Mapping[str, Any], fields: list[str], password: str) -> None:
        address = f"{want['local_part']}@{domain}"
        changes: dict[str, Any] = {k: want[k] for k in fields if k in ATTRS}
        if "password_fingerprint" in fields:
            changes["password"] = password
        try:
            c.update_mailbox(address, **changes)
        except MailcowApiError as exc:
            # Deleted by hand since the last run: it is still ours, so make it again.
            if exc.msg_key != "access_denied" or c.get_mailbox(address) is not None:
                raise
            self._add(c, domain, want, password)

    @staticmethod
    def _delete(c: MailcowClient, addresses: list[str]) -> None:
        if not addresses:
            return
        try:
            c.delete_mailboxes(addresses)
        except MailcowApiError as exc:
            # Mailcow says access_denied for a mailbox that is already gone; delete only what is left.
            if exc.msg_key != "access_denied":
                raise
            left = [a for a in addresses if c.get_mailbox(a) is not None]
            if left:
                c.delete_mailboxes(left)

    def delete(self, id_: str, props: dict) -> None:
        props = self.state(props)
        with self.client(props) as c:
            self._delete(c, list(props.get("addresses") or []))

    def read(self, id_: str, props: dict) -> ReadResult:
        props = self.state(props)
        with self.client(props) as c:
            live = {m.local_part: m for m in c.list_mailboxes(id_)}
        entries = []
        for lp, old in current(props).items():
            if lp in live:
                entries.append({"local_part": lp, **_live_attrs(live[lp]),
                                "password_fingerprint": old.get("password_fingerprint")})
        return ReadResult(id_, self._outputs({**props, "domain": id_}, entries))


@dataclass(frozen=True, kw_only=True)
class MailcowMailboxSetArgs:
    """Inputs of :class:`MailcowMailboxSet`.

    ``mailboxes`` is a list of ``{"local_part", "name", "quota_mb", "active"}``; ``passwords`` maps each
    local part to its password and is made secret here. ``daily_send_limit`` is informational.
    """

    api_url: pulumi.Input[str]
    server: pulumi.Input[str]
    domain: pulumi.Input[str]
    mailboxes: pulumi.Input[list]
    passwords: pulumi.Input[dict]
    daily_send_limit: Optional[pulumi.Input[int]] = None
    verify_tls: pulumi.Input[bool] = True
    ca_bundle: Optional[pulumi.Input[str]] = None


class MailcowMailboxSet(SafeResource, module="coldmail", name="MailcowMailboxSet"):
    """All mailboxes of one domain (id: the domain). Outputs never contain a password."""

    addresses: pulumi.Output[list]
    """Every managed address, ``local_part@domain``."""
    mailboxes: pulumi.Output[list]
    """The managed mailboxes, each with a ``password_fingerprint`` instead of its password."""

    def __init__(self, name: str, args: MailcowMailboxSetArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = {**connection_props(args), "domain": args.domain, "mailboxes": args.mailboxes,
                 "passwords": pulumi.Output.secret(args.passwords), "daily_send_limit": args.daily_send_limit,
                 "addresses": None}
        secret = pulumi.ResourceOptions(additional_secret_outputs=["passwords"])
        super().__init__(MailcowMailboxSetProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))
