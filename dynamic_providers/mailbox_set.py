"""``MailcowMailboxSet``: every mailbox of one domain, and the domain's limits, as one resource.

One resource per domain keeps a 500-domain stack far below the SDK's dynamic-resource limits and lets
an unchanged set diff locally with no API call. Passwords are write-only: they arrive as a secret input
and only a fingerprint (``sha256("<address>:<password>")``, first 16 hex digits) reaches the outputs, so
a changed password is detected without storing it. The fingerprint is unsalted beyond the address, which
is fine for the generated random passwords coldmail uses and not meant for human-chosen ones.

Ownership rules (read → compare → act):

* ``create`` reads the domain once (its limits and how many mailboxes it holds) and lists its mailboxes
  only when it holds any. A live mailbox that matches the desired one (name, quota, active) is adopted and
  its password set; one that differs is a conflict and nothing is written, because it was not made by this
  stack. Re-running a failed create therefore converges with no duplicate.
* ``update`` acts only on the difference between the stored outputs and the inputs, without reading first.
  An add that meets ``object_exists`` reads that one mailbox and adopts it when it matches (a previous run
  that failed half way), otherwise it is a conflict. Adding one mailbox costs one write.
* Mailboxes in the domain that the stack never owned are never touched.

Limits (docs/architecture.md, "Domain limits"): the set owns the domain's four limits (``max_mailboxes``,
``domain_quota_mb``, ``max_mailbox_quota_mb``, ``default_mailbox_quota_mb``) once the domain exists,
because Mailcow checks them when a mailbox is added and refuses to lower one below what the mailboxes use
(docs/mailcow-api.md §3). Every write runs in three phases: the limits that grow (one ``edit/domain``),
then the mailboxes (one ``delete/mailbox`` for every removal, edits with shrinking quotas first, adds),
then the limits that shrink (one ``edit/domain``). A mailbox write refused for a limit someone lowered by
hand reads the domain, raises the limits to fit and is tried again; a shrink refused because mailboxes the
stack does not manage use more keeps the limit at what Mailcow reports in use, and the outputs say so.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult

from coldmail.model.mailcow import stored_display_name
from coldmail.model.names import local_part_problem
from coldmail.model.sizing import LIMIT_KEYS

from .base import (CONNECTION_KEYS, Inputs, MailcowProvider, SafeResource, changed_keys, connection_props,
                   is_unknown, plain)
from .client import WRITE_CONCURRENCY, Domain, Mailbox, MailcowClient
from .errors import MailcowApiError, MailcowConflict

ATTRS = ("name", "quota_mb", "active")
#: Stored for the policy pack and the warmup; never sent to Mailcow.
INFORMATIONAL = ("daily_send_limit",)
#: Mailbox writes Mailcow refuses because a domain limit is too low (docs/mailcow-api.md §3, §4).
LIMIT_REFUSALS = frozenset({"max_mailbox_exceeded", "mailbox_quota_exceeded", "mailbox_quota_left_exceeded"})
#: ``edit/domain`` refusals of a limit below what is in use, and the limit each one names; the message's
#: argument is the value in use ("2048" for quotas, 3 for the count).
IN_USE = {"max_quota_in_use": "max_mailbox_quota_mb", "domain_quota_m_in_use": "domain_quota_mb",
          "mailboxes_in_use": "max_mailboxes"}


_ADD_POOL: Optional[ThreadPoolExecutor] = None
_ADD_POOL_LOCK = threading.Lock()


def _add_pool() -> ThreadPoolExecutor:
    """The process's threads for adding mailboxes in parallel, kept for the next set."""
    global _ADD_POOL
    with _ADD_POOL_LOCK:
        if _ADD_POOL is None:
            _ADD_POOL = ThreadPoolExecutor(max_workers=WRITE_CONCURRENCY, thread_name_prefix="mailcow-add")
        return _ADD_POOL


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


def _live_limits(d: Domain) -> dict[str, int]:
    return {"max_mailboxes": d.max_mailboxes, "domain_quota_mb": d.domain_quota_mb,
            "max_mailbox_quota_mb": d.max_mailbox_quota_mb, "default_mailbox_quota_mb": d.default_mailbox_quota_mb}


def limits_of(props: Mapping[str, Any]) -> Optional[dict[str, int]]:
    """The four limits in ``props``, or ``None`` unless every one is a known number."""
    values = {k: props.get(k) for k in LIMIT_KEYS}
    if any(v is None or is_unknown(v) for v in values.values()):
        return None
    return {k: int(v) for k, v in values.items()}


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
    """The mailbox writes that turn the stored set into the wanted set."""

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
    # Shrinking quotas first, so the domain's quota has room for the ones that grow.
    p.edit = dict(sorted(p.edit.items(), key=lambda kv: want[kv[0]]["quota_mb"] - have[kv[0]].get("quota_mb", 0)))
    p.delete = [lp for lp in have if lp not in want]
    return p


class DomainLimits:
    """One domain's limits as this set last applied them, moved in the order Mailcow accepts.

    ``current`` is what the stored outputs say (no read); ``None`` means unknown, and the first phase that
    needs it reads the domain. ``want`` is ``None`` for a set that does not manage the limits.
    """

    def __init__(self, c: MailcowClient, domain: str, current: Optional[dict[str, int]],
                 want: Optional[dict[str, int]]) -> None:
        self.c, self.domain, self.current, self.want = c, domain, current, want
        self._lock = threading.Lock()

    def read(self) -> Domain:
        live = self.c.get_domain(self.domain)
        if live is None or live.name != self.domain:
            raise MailcowConflict(f"domain {self.domain} does not exist in Mailcow, so its mailboxes cannot be "
                                  "written: run `pulumi up` again after a `pulumi refresh`, which re-creates it")
        self.current = _live_limits(live)
        return live

    def _raise_to(self, floor: Mapping[str, int]) -> None:
        # Each limit to max(current, floor): defquota <= maxquota <= quota holds for the result whenever it
        # holds for both sides, which is what Mailcow checks on every edit/domain.
        assert self.current is not None
        delta = {k: v for k, v in floor.items() if v > self.current[k]}
        if delta:
            self.c.update_domain(self.domain, **delta)
            self.current.update(delta)

    def grow(self) -> None:
        """Phase 1: raise every limit that is below the wanted one, in one ``edit/domain``."""
        if self.want is None:
            return
        if self.current is None:
            self.read()
        self._raise_to(self.want)

    def fit(self, slots: int, quota_mb: int) -> None:
        """After Mailcow refused a mailbox write for a limit: read the domain and make room for ``slots`` more
        mailboxes and ``quota_mb`` more MiB (the largest of them at most ``quota_mb``)."""
        with self._lock:
            live = self.read()
            need = {"max_mailboxes": live.mailbox_count + slots,
                    "domain_quota_mb": live.quota_used_mb + quota_mb, "max_mailbox_quota_mb": quota_mb}
            floor = {k: max(need.get(k, 0), (self.want or {}).get(k, 0)) for k in LIMIT_KEYS}
            floor["max_mailbox_quota_mb"] = min(floor["max_mailbox_quota_mb"],
                                                max(floor["domain_quota_mb"], self.current["domain_quota_mb"]))
            self._raise_to(floor)

    def shrink(self, repair_drift: Callable[[], None]) -> None:
        """Phase 3: lower every limit above the wanted one, in one ``edit/domain``.

        Refused because more is in use than the stack's own mailboxes explain: ``repair_drift`` puts the
        stack's mailboxes back as wanted (someone may have raised a quota by hand) and the shrink is tried
        again; what is still in use then belongs to mailboxes the stack does not manage, and the limit stays
        at the value Mailcow reports in use.
        """
        if self.want is None or self.current is None:
            return
        delta = {k: v for k, v in self.want.items() if v != self.current[k]}
        repaired = False
        # Each refusal settles one limit (or the drift), so this ends after a few rounds.
        for _ in range(len(IN_USE) + 2):
            if not delta:
                return
            try:
                self.c.update_domain(self.domain, **delta)
            except MailcowApiError as exc:
                key = IN_USE.get(exc.msg_key)
                if key is None or not exc.msg_args:
                    raise
                if not repaired:
                    repaired = True
                    repair_drift()
                    continue
                # Mailcow checks the merged values, so a limit not sent at all (lowered by hand) can be the one
                # refused: it is raised to what is in use too.
                in_use = int(exc.msg_args[0])
                delta[key] = max(delta.get(key, 0), in_use)
                if key == "max_mailbox_quota_mb":
                    delta["domain_quota_mb"] = max(delta.get("domain_quota_mb", self.current["domain_quota_mb"]),
                                                   in_use)
            else:
                self.current.update(delta)
                return
        raise MailcowConflict(f"Mailcow keeps refusing the limits {delta} for {self.domain}; check the domain's "
                              "mailboxes and limits in Mailcow")


class MailcowMailboxSetProvider(MailcowProvider):
    """Keeps a domain's mailboxes equal to the stack's list, and its limits fitting them, touching only what
    changed."""

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
        limits = self._check_limits(r)
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
            # Stored as Mailcow stores it, so the state matches what a read returns.
            out.append({"local_part": lp, "name": stored_display_name(name), "quota_mb": int(quota),
                        "active": active})
        if passwords is None:
            r.fail("passwords", "is required: a secret map of local part to password")
        if limits is not None:
            self._check_fit(r, limits, out)
        r.out["mailboxes"] = out
        return CheckResult(r.out, r.failures)

    @staticmethod
    def _check_limits(r: Inputs) -> Optional[dict[str, int]]:
        given = [k for k in LIMIT_KEYS if r.raw.get(k) is not None]
        if not given:
            return None
        if len(given) != len(LIMIT_KEYS):
            for k in LIMIT_KEYS:
                if k not in given:
                    r.fail(k, f"is required with {', '.join(given)}: the set manages all four limits or none")
            return None
        why = "Mailcow's edit/domain ignores 0 for this field"
        values = {"max_mailboxes": r.integer("max_mailboxes", None, 0),
                  "domain_quota_mb": r.integer("domain_quota_mb", None, 1, why),
                  "max_mailbox_quota_mb": r.integer("max_mailbox_quota_mb", None, 1, why),
                  "default_mailbox_quota_mb": r.integer("default_mailbox_quota_mb", None, 1, "Mailcow rejects 0")}
        if any(v is None for v in values.values()):
            return None
        if values["default_mailbox_quota_mb"] > values["max_mailbox_quota_mb"]:
            r.fail("default_mailbox_quota_mb", f"{values['default_mailbox_quota_mb']} MiB is more than "
                                               f"max_mailbox_quota_mb {values['max_mailbox_quota_mb']} MiB")
        if values["max_mailbox_quota_mb"] > values["domain_quota_mb"]:
            r.fail("max_mailbox_quota_mb", f"{values['max_mailbox_quota_mb']} MiB is more than "
                                           f"domain_quota_mb {values['domain_quota_mb']} MiB")
        return values

    @staticmethod
    def _check_fit(r: Inputs, limits: Mapping[str, int], boxes: list[dict[str, Any]]) -> None:
        """Mailcow would refuse an add past these limits: say so at preview instead."""
        if len(boxes) > limits["max_mailboxes"]:
            r.fail("max_mailboxes", f"{limits['max_mailboxes']} is fewer than the {len(boxes)} mailboxes")
        biggest = max((b["quota_mb"] for b in boxes), default=0)
        if biggest > limits["max_mailbox_quota_mb"]:
            r.fail("max_mailbox_quota_mb", f"{limits['max_mailbox_quota_mb']} MiB is less than a mailbox's "
                                           f"{biggest} MiB")
        total = sum(b["quota_mb"] for b in boxes)
        if total > limits["domain_quota_mb"]:
            r.fail("domain_quota_mb", f"{limits['domain_quota_mb']} MiB is less than the mailboxes' {total} MiB")

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        olds, news = plain(olds), plain(news)
        keys = changed_keys(olds, news, ("domain", *INFORMATIONAL, *LIMIT_KEYS, *CONNECTION_KEYS))
        want = desired(news)
        if want is None or plan(current(olds), want):
            keys.append("mailboxes")
        return DiffResult(changes=bool(keys), replaces=["domain"] if "domain" in keys else [],
                          delete_before_replace=False)

    # ---------------------------------------------------------------- writes

    def _adopt(self, c: MailcowClient, live: Mailbox, password: str) -> None:
        # The live password is unknowable; setting it makes the stored fingerprint true.
        c.update_mailbox(live.address, password=password)

    def _add(self, c: MailcowClient, domain: str, want: Mapping[str, Any], password: str,
             limits: DomainLimits) -> None:
        try:
            self._fitting(limits, 1, want["quota_mb"], lambda: c.create_mailbox(
                want["local_part"], domain, name=want["name"], password=password, quota_mb=want["quota_mb"],
                active=want["active"]))
        except MailcowApiError as exc:
            if exc.msg_key != "object_exists":
                raise
            live = c.get_mailbox(f"{want['local_part']}@{domain}")
            if live is None:
                raise
            self._check_foreign(domain, [(live, want)])
            self._adopt(c, live, password)

    @staticmethod
    def _fitting(limits: DomainLimits, slots: int, quota_mb: int, write: Callable[[], Any]) -> Any:
        """Run a mailbox write; refused for a domain limit (lowered by hand), make room and try once more."""
        try:
            return write()
        except MailcowApiError as exc:
            if exc.msg_key not in LIMIT_REFUSALS or limits.want is None:
                raise
            limits.fit(slots, quota_mb)
            return write()

    def _add_all(self, props: Mapping[str, Any], c: MailcowClient, lps: list[str],
                 want: Mapping[str, Mapping[str, Any]], limits: DomainLimits, fits: bool) -> None:
        """Add mailboxes; several at once only when the domain's limits already fit all of them.

        Mailcow's limit checks are check-then-insert, so parallel adds to one domain may only overshoot a
        limit that would not have bitten anyway. Each address is added once, by one thread.
        """
        domain, passwords = props["domain"], props["passwords"]
        if not fits or len(lps) < 2:
            for lp in lps:
                self._add(c, domain, want[lp], passwords[lp], limits)
            return
        futures = [_add_pool().submit(self._add, c, domain, want[lp], passwords[lp], limits) for lp in lps]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]

    @staticmethod
    def _fit_all(limits: DomainLimits, count: int, total_mb: int, largest_mb: int) -> bool:
        """Whether ``count`` mailboxes of ``total_mb`` MiB in all, none above ``largest_mb``, fit the limits the
        set knows of."""
        have = limits.current
        if have is None:
            return False
        return (count <= have["max_mailboxes"] and total_mb <= have["domain_quota_mb"]
                and largest_mb <= have["max_mailbox_quota_mb"])

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

    def _outputs(self, props: Mapping[str, Any], entries: list[dict[str, Any]],
                 limits: Optional[Mapping[str, int]]) -> dict[str, Any]:
        out = self.state(props)
        out.pop("passwords", None)
        out["mailboxes"] = entries
        out["addresses"] = [f"{e['local_part']}@{props['domain']}" for e in entries]
        if limits_of(props) is not None:
            out.update(limits or {k: None for k in LIMIT_KEYS})
        return out

    def create(self, props: dict) -> CreateResult:
        props = self.state(props)
        domain, passwords = props["domain"], props["passwords"]
        want = desired(props) or {}
        with self.client(props) as c:
            limits = DomainLimits(c, domain, None, limits_of(props))
            live_domain = limits.read()
            live = {m.local_part: m for m in c.list_mailboxes(domain)} if live_domain.mailbox_count else {}
            self._check_foreign(domain, [(live[lp], w) for lp, w in want.items() if lp in live])
            limits.grow()
            for lp, w in want.items():
                if lp in live:
                    self._adopt(c, live[lp], passwords[lp])
            adds = [lp for lp in want if lp not in live]
            quotas = [want[lp]["quota_mb"] for lp in adds]
            fits = self._fit_all(limits, live_domain.mailbox_count + len(adds),
                                 live_domain.quota_used_mb + sum(quotas), max(quotas, default=0))
            self._add_all(props, c, adds, want, limits, fits)
            limits.shrink(lambda: self._repair_drift(c, props, want, limits))
        return CreateResult(domain, self._outputs(props, list(want.values()), limits.current))

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        news = self.state(news)
        domain, passwords = news["domain"], news["passwords"]
        have, want = current(olds), desired(news) or {}
        todo = plan(have, want)
        stored, wanted = limits_of(plain(olds)), limits_of(news)
        applied = stored
        if todo or wanted != stored:
            with self.client(news) as c:
                limits = DomainLimits(c, domain, stored, wanted)
                limits.grow()
                c.delete_mailboxes([f"{lp}@{domain}" for lp in todo.delete])
                for lp, fields in todo.edit.items():
                    self._edit(c, domain, want[lp], have[lp], fields, passwords[lp], limits)
                quotas = [w["quota_mb"] for w in want.values()]
                fits = self._fit_all(limits, len(want), sum(quotas), max(quotas, default=0))
                self._add_all(news, c, todo.add, want, limits, fits)
                limits.shrink(lambda: self._repair_drift(c, news, want, limits))
                applied = limits.current
        return UpdateResult(self._outputs(news, list(want.values()), applied))

    def _edit(self, c: MailcowClient, domain: str, want: Mapping[str, Any], have: Mapping[str, Any],
              fields: list[str], password: str, limits: DomainLimits) -> None:
        address = f"{want['local_part']}@{domain}"
        changes: dict[str, Any] = {k: want[k] for k in fields if k in ATTRS}
        if "password_fingerprint" in fields:
            changes["password"] = password
        grows = max(want["quota_mb"] - int(have.get("quota_mb") or 0), 0)
        try:
            self._fitting(limits, 0, grows, lambda: c.update_mailbox(address, **changes))
        except MailcowApiError as exc:
            # Deleted by hand since the last run: it is still ours, so make it again.
            if exc.msg_key != "access_denied" or c.get_mailbox(address) is not None:
                raise
            self._add(c, domain, want, password, limits)

    def _repair_drift(self, c: MailcowClient, props: Mapping[str, Any], want: Mapping[str, Mapping[str, Any]],
                      limits: DomainLimits) -> None:
        """Put back the stack's mailboxes that were changed by hand (one read; a write per drifted one)."""
        for m in c.list_mailboxes(props["domain"]):
            w = want.get(m.local_part)
            diff = _differs(m, w) if w is not None else []
            if diff:
                self._fitting(limits, 0, max(w["quota_mb"] - m.quota_mb, 0),
                              lambda m=m, w=w, diff=diff: c.update_mailbox(m.address, **{k: w[k] for k in diff}))

    def delete(self, id_: str, props: dict) -> None:
        props = self.state(props)
        with self.client(props) as c:
            c.delete_mailboxes(list(props.get("addresses") or []))

    def read(self, id_: str, props: dict) -> ReadResult:
        props = self.state(props)
        with self.client(props) as c:
            live = {m.local_part: m for m in c.list_mailboxes(id_)}
            live_domain = c.get_domain(id_) if limits_of(props) is not None else None
        entries = []
        for lp, old in current(props).items():
            if lp in live:
                entries.append({"local_part": lp, **_live_attrs(live[lp]),
                                "password_fingerprint": old.get("password_fingerprint")})
        limits = _live_limits(live_domain) if live_domain is not None and live_domain.name == id_ else None
        return ReadResult(id_, self._outputs({**props, "domain": id_}, entries, limits))


@dataclass(frozen=True, kw_only=True)
class MailcowMailboxSetArgs:
    """Inputs of :class:`MailcowMailboxSet`.

    ``mailboxes`` is a list of ``{"local_part", "name", "quota_mb", "active"}``; ``passwords`` maps each
    local part to its password and is made secret here. ``daily_send_limit`` is informational. The four
    limits (MiB for quotas, ``coldmail.model.sizing.domain_sizing``) are the domain's, owned by the set once
    the domain exists; leave them all ``None`` for a set that must not touch the domain.
    """

    api_url: pulumi.Input[str]
    server: pulumi.Input[str]
    domain: pulumi.Input[str]
    mailboxes: pulumi.Input[list]
    passwords: pulumi.Input[dict]
    daily_send_limit: Optional[pulumi.Input[int]] = None
    max_mailboxes: Optional[pulumi.Input[int]] = None
    domain_quota_mb: Optional[pulumi.Input[int]] = None
    max_mailbox_quota_mb: Optional[pulumi.Input[int]] = None
    default_mailbox_quota_mb: Optional[pulumi.Input[int]] = None
    verify_tls: pulumi.Input[bool] = True
    ca_bundle: Optional[pulumi.Input[str]] = None


class MailcowMailboxSet(SafeResource, module="coldmail", name="MailcowMailboxSet"):
    """All mailboxes of one domain and the domain's limits (id: the domain). Outputs never contain a password."""

    addresses: pulumi.Output[list]
    """Every managed address, ``local_part@domain``."""
    mailboxes: pulumi.Output[list]
    """The managed mailboxes, each with a ``password_fingerprint`` instead of its password."""

    def __init__(self, name: str, args: MailcowMailboxSetArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = {**connection_props(args), "domain": args.domain, "mailboxes": args.mailboxes,
                 "passwords": pulumi.Output.secret(args.passwords), "daily_send_limit": args.daily_send_limit,
                 "max_mailboxes": args.max_mailboxes, "domain_quota_mb": args.domain_quota_mb,
                 "max_mailbox_quota_mb": args.max_mailbox_quota_mb,
                 "default_mailbox_quota_mb": args.default_mailbox_quota_mb, "addresses": None}
        secret = pulumi.ResourceOptions(additional_secret_outputs=["passwords"])
        super().__init__(MailcowMailboxSetProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))
