"""``MailcowRelayhost``: one sender-dependent transport (a sending IP's relay) registered in Mailcow.

Mailcow resets every domain that uses a deleted relayhost to relayhost 0, whoever owns the domain
(docs/mailcow-api.md §7). So a relayhost is deleted only when nothing uses it any more: by the time the
engine deletes it, the stack's own domains have moved off it (they depend on it), and any domain or
mailbox still on it belongs to someone else and would silently lose its sending IP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult

from .base import (CONNECTION_KEYS, Inputs, MailcowProvider, SafeResource, changed_keys, connection_props,
                   plain)
from .client import Relayhost
from .errors import MailcowConflict

#: Stored for the policy pack and the operator; never sent to Mailcow.
INFORMATIONAL = ("source_ip", "helo_name")


def _users(r: Relayhost) -> str:
    return ", ".join([*r.used_by_domains, *r.used_by_mailboxes])


class MailcowRelayhostProvider(MailcowProvider):
    """Adds the relayhost and reports Mailcow's id for it; takes over an existing one only when told to.

    An existing relayhost with the same hostname is adopted only with the input ``adopt: true``, and the
    output ``adopted`` records it: destroy leaves an adopted relayhost where it was found. Without it,
    ``create`` refuses, naming who uses the existing one.
    """

    def check(self, _olds: dict, news: dict) -> CheckResult:
        r = Inputs(news)
        r.connection()
        host = r.string("hostname")
        if isinstance(host, str) and not r.unknown("hostname") and any(ch.isspace() for ch in host):
            r.fail("hostname", f"must be host:port or [ip]:port without spaces, e.g. [172.22.1.1]:2526, got {host!r}")
        for k in INFORMATIONAL:
            r.string(k, required=False)
        r.out["adopt"] = r.boolean("adopt", False)
        return CheckResult(r.out, r.failures)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        olds, news = plain(olds), plain(news)
        changes = changed_keys(olds, news, ("hostname", *INFORMATIONAL, *CONNECTION_KEYS))
        # A new hostname gets a new id from Mailcow; old and new can coexist until domains move over.
        return DiffResult(changes=bool(changes), replaces=["hostname"] if "hostname" in changes else [],
                          delete_before_replace=False)

    def create(self, props: dict) -> CreateResult:
        props = self.state(props)
        hostname = props["hostname"]
        with self.client(props) as c:
            found = c.get_relayhost_by_hostname(hostname)
            if found is None:
                rid = c.create_relayhost(hostname)
            elif props.get("adopt"):
                rid = found.id
            else:
                raise MailcowConflict(
                    f"relayhost {hostname} already exists in Mailcow as id {found.id} "
                    f"(used by: {_users(found) or 'nothing'}) and was not created by this stack. To take it over, "
                    "set `adoptRelayhosts: true` on the server in coldmail:servers (an adopted relayhost is left in "
                    "place on destroy); or delete it in Mailcow (System > Configuration > Routing) once nothing "
                    "uses it, and run again")
        return CreateResult(rid, {**props, "relayhost_id": rid, "adopted": found is not None})

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        # Only informational or connection inputs can change in place: nothing to tell Mailcow.
        return UpdateResult({**self.state(news), "relayhost_id": id_, "adopted": bool(plain(olds).get("adopted"))})

    def read(self, id_: str, props: dict) -> ReadResult:
        props = self.state(props)
        with self.client(props) as c:
            live = next((r for r in c.list_relayhosts() if r.id == id_), None)
        if live is None:
            return ReadResult("", {})
        return ReadResult(id_, {**props, "hostname": live.hostname, "relayhost_id": id_})

    def delete(self, id_: str, props: dict) -> None:
        props = self.state(props)
        if props.get("adopted"):
            return
        with self.client(props) as c:
            live = next((r for r in c.list_relayhosts() if r.id == id_), None)
            if live is None:
                return
            if live.used_by_domains or live.used_by_mailboxes:
                raise MailcowConflict(
                    f"relayhost {id_} ({live.hostname}) is still used by {_users(live)}, which this stack does not "
                    "manage. It was not deleted: Mailcow would silently move them to the server's primary IP "
                    "(relayhost 0). Point them at another relayhost in Mailcow (or remove them) and run again; "
                    "or keep the relayhost and drop it from the stack with `pulumi state delete <urn>`")
            c.delete_relayhost(id_)


@dataclass(frozen=True, kw_only=True)
class MailcowRelayhostArgs:
    """Inputs of :class:`MailcowRelayhost`; ``source_ip`` and ``helo_name`` are informational.

    ``adopt``: take over an existing relayhost with the same hostname instead of refusing (recorded in the
    output ``adopted``; destroy then leaves it in place).
    """

    api_url: pulumi.Input[str]
    server: pulumi.Input[str]
    hostname: pulumi.Input[str]
    source_ip: Optional[pulumi.Input[str]] = None
    helo_name: Optional[pulumi.Input[str]] = None
    adopt: pulumi.Input[bool] = False
    verify_tls: pulumi.Input[bool] = True
    ca_bundle: Optional[pulumi.Input[str]] = None


class MailcowRelayhost(SafeResource, module="coldmail", name="MailcowRelayhost"):
    """A relayhost in Mailcow (id: Mailcow's relayhost id), e.g. ``[172.22.1.1]:2526``."""

    relayhost_id: pulumi.Output[str]
    """Mailcow's id for the relayhost, to set on domains that send through it."""
    adopted: pulumi.Output[bool]
    """True when the relayhost existed before and was adopted: destroy leaves it in place."""

    def __init__(self, name: str, args: MailcowRelayhostArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = {**connection_props(args), "hostname": args.hostname, "source_ip": args.source_ip,
                 "helo_name": args.helo_name, "adopt": args.adopt, "relayhost_id": None, "adopted": None}
        super().__init__(MailcowRelayhostProvider(), name, props, opts)
