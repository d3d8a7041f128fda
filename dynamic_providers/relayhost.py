"""``MailcowRelayhost``: one sender-dependent transport (a sending IP's relay) registered in Mailcow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult

from .base import (CONNECTION_KEYS, Inputs, MailcowProvider, SafeResource, changed_keys, connection_props,
                   plain)

#: Stored for the policy pack and the operator; never sent to Mailcow.
INFORMATIONAL = ("source_ip", "helo_name")


class MailcowRelayhostProvider(MailcowProvider):
    """Adds the relayhost (or adopts one with the same hostname) and reports Mailcow's id for it."""

    def check(self, _olds: dict, news: dict) -> CheckResult:
        r = Inputs(news)
        r.connection()
        host = r.string("hostname")
        if isinstance(host, str) and not r.unknown("hostname") and any(ch.isspace() for ch in host):
            r.fail("hostname", f"must be host:port or [ip]:port without spaces, e.g. [172.22.1.1]:2526, got {host!r}")
        for k in INFORMATIONAL:
            r.string(k, required=False)
        return CheckResult(r.out, r.failures)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        olds, news = plain(olds), plain(news)
        changes = changed_keys(olds, news, ("hostname", *INFORMATIONAL, *CONNECTION_KEYS))
        # A new hostname gets a new id from Mailcow; old and new can coexist until domains move over.
        return DiffResult(changes=bool(changes), replaces=["hostname"] if "hostname" in changes else [],
                          delete_before_replace=False)

    def create(self, props: dict) -> CreateResult:
        props = self.state(props)
        with self.client(props) as c:
            found = c.get_relayhost_by_hostname(props["hostname"])
            rid = found.id if found is not None else c.create_relayhost(props["hostname"])
        return CreateResult(rid, {**props, "relayhost_id": rid})

    def update(self, id_: str, _olds: dict, news: dict) -> UpdateResult:
        # Only informational or connection inputs can change in place: nothing to tell Mailcow.
        return UpdateResult({**self.state(news), "relayhost_id": id_})

    def read(self, id_: str, props: dict) -> ReadResult:
        props = self.state(props)
        with self.client(props) as c:
            live = next((r for r in c.list_relayhosts() if r.id == id_), None)
        if live is None:
            return ReadResult("", {})
        return ReadResult(id_, {**props, "hostname": live.hostname, "relayhost_id": id_})

    def delete(self, id_: str, props: dict) -> None:
        props = self.state(props)
        with self.client(props) as c:
            if any(r.id == id_ for r in c.list_relayhosts()):
                c.delete_relayhost(id_)


@dataclass(frozen=True, kw_only=True)
class MailcowRelayhostArgs:
    """Inputs of :class:`MailcowRelayhost`; ``source_ip`` and ``helo_name`` are informational."""

    api_url: pulumi.Input[str]
    server: pulumi.Input[str]
    hostname: pulumi.Input[str]
    source_ip: Optional[pulumi.Input[str]] = None
    helo_name: Optional[pulumi.Input[str]] = None
    verify_tls: pulumi.Input[bool] = True
    ca_bundle: Optional[pulumi.Input[str]] = None


class MailcowRelayhost(SafeResource, module="coldmail", name="MailcowRelayhost"):
    """A relayhost in Mailcow (id: Mailcow's relayhost id), e.g. ``[172.22.1.1]:2526``."""

    relayhost_id: pulumi.Output[str]
    """Mailcow's id for the relayhost, to set on domains that send through it."""

    def __init__(self, name: str, args: MailcowRelayhostArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = {**connection_props(args), "hostname": args.hostname, "source_ip": args.source_ip,
                 "helo_name": args.helo_name, "relayhost_id": None}
        super().__init__(MailcowRelayhostProvider(), name, props, opts)
