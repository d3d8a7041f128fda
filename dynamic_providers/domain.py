"""``MailcowDomain``: one Mailcow domain, created sized for its mailbox set, without an automatic DKIM key.

The domain's four limits are inputs here only so that ``add/domain`` creates it the right size in one
write; from then on the domain's :class:`~dynamic_providers.mailbox_set.MailcowMailboxSet` owns them,
because a limit may only grow before its mailboxes change and shrink after (docs/architecture.md, "Domain
limits"). Changing them here is no change of this resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult

from coldmail.model.mailcow import DOMAIN_TEMPLATE as DEFAULTS
from coldmail.model.sizing import LIMIT_KEYS

from .base import (CONNECTION_KEYS, Inputs, MailcowProvider, SafeResource, changed_keys, connection_props,
                   plain)
from .client import Domain, MailcowClient
from .errors import MailcowApiError, MailcowConflict

#: What this resource keeps equal to its inputs after the create.
SETTINGS = ("description", "max_aliases", "relayhost_id", "active")


def _live_settings(d: Domain) -> dict[str, Any]:
    return {"description": d.description, "max_mailboxes": d.max_mailboxes, "max_aliases": d.max_aliases,
            "domain_quota_mb": d.domain_quota_mb, "max_mailbox_quota_mb": d.max_mailbox_quota_mb,
            "default_mailbox_quota_mb": d.default_mailbox_quota_mb, "relayhost_id": d.relayhost_id,
            "active": d.active}


class MailcowDomainProvider(MailcowProvider):
    """CRUD for a Mailcow domain.

    ``create`` adds the domain (one write, plus one ``edit/domain`` for a relayhost, which ``add/domain``
    does not take). A domain that already exists is adopted only when its description is the one this
    stack gives it: that is how a re-run finds the domain a failed run created. Any other existing domain
    is a conflict, never edited: it was not made by this stack. ``update`` sends only the changed settings,
    without a read.
    """

    def check(self, _olds: dict, news: dict) -> CheckResult:
        r = Inputs(news)
        r.connection()
        domain = r.domain()
        description = r.string("description", required=False, default="")
        if description == "" and isinstance(domain, str):
            # Mailcow's edit ignores an empty description (!empty), and add defaults it to the name.
            r.out["description"] = domain
        why = "Mailcow's edit/domain ignores 0 for this field"
        r.integer("max_mailboxes", DEFAULTS["max_mailboxes"], 0)
        r.integer("max_aliases", DEFAULTS["max_aliases"], 1, why)
        total = r.integer("domain_quota_mb", DEFAULTS["domain_quota_mb"], 1, why)
        biggest = r.integer("max_mailbox_quota_mb", DEFAULTS["max_mailbox_quota_mb"], 1, why)
        default = r.integer("default_mailbox_quota_mb", DEFAULTS["default_mailbox_quota_mb"], 1, "Mailcow rejects 0")
        if default is not None and biggest is not None and default > biggest:
            r.fail("default_mailbox_quota_mb", f"{default} MiB is more than max_mailbox_quota_mb {biggest} MiB")
        if biggest is not None and total is not None and biggest > total:
            r.fail("max_mailbox_quota_mb", f"{biggest} MiB is more than domain_quota_mb {total} MiB")
        relay = r.raw.get("relayhost_id", "0")
        if not r.unknown("relayhost_id"):
            if isinstance(relay, float) and relay == int(relay):
                relay = int(relay)
            relay = "0" if relay in (None, "") else str(relay)
            if not relay.isdigit():
                r.fail("relayhost_id", f"must be a relayhost id (digits, \"0\" = none), got {relay!r}")
            r.out["relayhost_id"] = relay
        r.boolean("active", True)
        return CheckResult(r.out, r.failures)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        olds, news = plain(olds), plain(news)
        changes = changed_keys(olds, news, ("domain", *SETTINGS, *CONNECTION_KEYS))
        replaces = ["domain"] if "domain" in changes else []
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=False)

    def _live(self, c: MailcowClient, domain: str) -> Optional[Domain]:
        live = c.get_domain(domain)
        if live is not None and live.name != domain:
            raise MailcowConflict(f"{domain} is an alias domain of {live.name} in Mailcow; remove the alias "
                                  "domain before adding it as a domain of its own")
        return live

    def _add(self, c: MailcowClient, props: dict) -> None:
        """Create the domain, or adopt the one a failed run of this stack left behind."""
        domain = props["domain"]
        settings = {k: props[k] for k in (*SETTINGS, *LIMIT_KEYS) if k != "relayhost_id"}
        try:
            c.create_domain(domain, key_size=0, **settings)
        except MailcowApiError as exc:
            if exc.msg_key != "domain_exists":
                raise
            live = self._live(c, domain)
            if live is None:
                raise
            if live.description != props["description"]:
                raise MailcowConflict(
                    f"domain {domain} already exists in Mailcow with the description {live.description!r}, so it was "
                    f"not created by this stack (which describes it as {props['description']!r}). coldmail does not "
                    f"take over a domain on its own: to hand it to this stack, set its description in Mailcow to "
                    f"{props['description']!r} (or set `description` on the domain in coldmail:domains to "
                    f"{live.description!r}) and run again; otherwise remove it from coldmail:domains") from None
            delta = {k: props[k] for k in SETTINGS if _live_settings(live)[k] != props[k]}
            if delta:
                c.update_domain(domain, **delta)
            return
        if props["relayhost_id"] != "0":
            c.update_domain(domain, relayhost_id=props["relayhost_id"])

    def create(self, props: dict) -> CreateResult:
        props = self.state(props)
        with self.client(props) as c:
            self._add(c, props)
        return CreateResult(props["domain"], props)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        olds, news = plain(olds), self.state(news)
        delta = {k: news[k] for k in changed_keys(olds, news, SETTINGS)}
        with self.client(news) as c:
            try:
                if delta:
                    c.update_domain(news["domain"], **delta)
            except MailcowApiError as exc:
                # Deleted by hand since the last run: it is still ours, so make it again.
                if exc.msg_key != "domain_invalid" or self._live(c, news["domain"]) is not None:
                    raise
                self._add(c, news)
        # The limits stay as stored: the MailboxSet owns them once the domain exists.
        return UpdateResult({**news, **{k: olds.get(k, news[k]) for k in LIMIT_KEYS}})

    def read(self, id_: str, props: dict) -> ReadResult:
        props = self.state(props)
        with self.client(props) as c:
            live = c.get_domain(id_)
        if live is None or live.name != id_:
            return ReadResult("", {})
        return ReadResult(id_, {**props, "domain": id_, **_live_settings(live)})

    def delete(self, id_: str, props: dict) -> None:
        props = self.state(props)
        with self.client(props) as c:
            # The stack's own MailboxSet is deleted first (it depends on the domain), so whatever is
            # left belongs to someone else and must not be destroyed with the domain.
            left = c.list_mailboxes(id_)
            if left:
                names = ", ".join(m.address for m in left[:10]) + (" …" if len(left) > 10 else "")
                raise MailcowConflict(
                    f"domain {id_} still has {len(left)} mailbox(es) that this stack does not manage: {names}. "
                    "coldmail does not delete mail it does not own. Move or delete them in Mailcow and run "
                    "again, or keep the domain and drop it from the stack with `pulumi state delete <urn>`")
            c.delete_domain(id_)


@dataclass(frozen=True, kw_only=True)
class MailcowDomainArgs:
    """Inputs of :class:`MailcowDomain`. Quotas are MiB; ``relayhost_id`` ``"0"`` means Mailcow's own IP.

    The four limits size the domain when it is created; afterwards its MailboxSet owns them.
    """

    api_url: pulumi.Input[str]
    server: pulumi.Input[str]
    domain: pulumi.Input[str]
    description: pulumi.Input[str] = ""
    max_mailboxes: pulumi.Input[int] = DEFAULTS["max_mailboxes"]
    max_aliases: pulumi.Input[int] = DEFAULTS["max_aliases"]
    domain_quota_mb: pulumi.Input[int] = DEFAULTS["domain_quota_mb"]
    max_mailbox_quota_mb: pulumi.Input[int] = DEFAULTS["max_mailbox_quota_mb"]
    default_mailbox_quota_mb: pulumi.Input[int] = DEFAULTS["default_mailbox_quota_mb"]
    relayhost_id: pulumi.Input[str] = "0"
    active: pulumi.Input[bool] = True
    verify_tls: pulumi.Input[bool] = True
    ca_bundle: Optional[pulumi.Input[str]] = None


class MailcowDomain(SafeResource, module="coldmail", name="MailcowDomain"):
    """A Mailcow domain (id: the punycode name), created with ``key_size: 0``: DKIM is :class:`MailcowDkim`."""

    domain: pulumi.Output[str]
    """The domain in punycode, as Mailcow stores it."""
    relayhost_id: pulumi.Output[str]
    """The relayhost (sending IP) the domain sends through; ``"0"`` = Mailcow's own IP."""

    def __init__(self, name: str, args: MailcowDomainArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = {**connection_props(args), "domain": args.domain, "description": args.description,
                 "max_mailboxes": args.max_mailboxes, "max_aliases": args.max_aliases,
                 "domain_quota_mb": args.domain_quota_mb, "max_mailbox_quota_mb": args.max_mailbox_quota_mb,
                 "default_mailbox_quota_mb": args.default_mailbox_quota_mb, "relayhost_id": args.relayhost_id,
                 "active": args.active}
        super().__init__(MailcowDomainProvider(), name, props, opts)
