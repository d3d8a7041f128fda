"""The stack's resources indexed the ways the stack policies look them up.

Stack policies read *outputs* plus the resource tree (parents and property dependencies), which is how
they link a record to its domain, a PTR to its IP and a domain to its relay while IPs are still unknown.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Optional
from urllib.parse import urlparse

from pulumi_policy import PolicyResource

from coldmail.model import tokens

from .sdk import fqdn, known, plain, txt_of


class StackIndex:
    """The stack's resources with plain props, indexed the ways the rules look them up."""

    def __init__(self, resources: Iterable[PolicyResource]):
        self.items = [(r, plain(r.props)) for r in resources]
        self.by_urn = {r.urn: (r, p) for r, p in self.items}

    def of(self, typ: str) -> list[tuple[PolicyResource, dict]]:
        return [(r, p) for r, p in self.items if r.resource_type == typ]

    def records(self, rtype: str) -> list[tuple[PolicyResource, dict]]:
        return [(r, p) for r, p in self.of(tokens.DNS_RECORD) if str(p.get("type", "")).upper() == rtype]

    @staticmethod
    def depends_on(res: PolicyResource, keys: Iterable[str], target: PolicyResource) -> bool:
        deps = getattr(res, "property_dependencies", None) or {}
        return any(d.urn == target.urn for k in keys for d in deps.get(k, []) or [])

    @staticmethod
    def ancestors(res: PolicyResource) -> list[str]:
        out, seen, cur = [], set(), getattr(res, "parent", None)
        while cur is not None and cur.urn not in seen:
            out.append(cur.urn)
            seen.add(cur.urn)
            cur = getattr(cur, "parent", None)
        return out

    def record_fqdn(self, res: PolicyResource, props: dict) -> str:
        """A record's name as an FQDN; ``@`` and relative names resolve against the owning MailDomain."""
        name = fqdn(props.get("name"))
        if name in ("@", "") or "." not in name:
            owner = next((self.owners[u] for u in self.ancestors(res) if u in self.owners), None)
            if owner:
                return owner if name in ("@", "") else f"{name}.{owner}"
        return name

    @functools.cached_property
    def owners(self) -> dict[str, str]:
        """URN of each MailDomain component (the MailcowDomain's ancestor) → its domain."""
        owners = {}
        for r, p in self.of(tokens.MAILCOW_DOMAIN):
            domain = fqdn(p.get("domain"))
            for urn in self.ancestors(r):
                anc = self.by_urn.get(urn)
                if anc and anc[0].resource_type == tokens.MAIL_DOMAIN:
                    owners[urn] = domain
                    break
            else:
                if getattr(r, "parent", None) is not None:
                    owners[r.parent.urn] = domain
        return owners

    @functools.cached_property
    def _txt_by_name(self) -> dict[str, list[tuple[PolicyResource, Optional[str]]]]:
        index: dict[str, list[tuple[PolicyResource, Optional[str]]]] = {}
        for r, p in self.records("TXT"):
            index.setdefault(self.record_fqdn(r, p), []).append((r, txt_of(p)))
        return index

    def txt_at(self, name: str) -> list[tuple[PolicyResource, Optional[str]]]:
        """TXT records at the FQDN ``name`` with their joined value (None while unknown)."""
        return self._txt_by_name.get(name, [])

    def primary_ip(self, server: str, api_url: Any) -> tuple[Optional[PolicyResource], Any]:
        """The hcloud server behind a Mailcow server name, and its primary IPv4."""
        host = (urlparse(api_url).hostname or "") if isinstance(api_url, str) else ""
        servers = self.of(tokens.HCLOUD_SERVER)
        for r, p in servers:
            if p.get("name") in (server, host) and server:
                return r, p.get("ipv4Address")
        for r, p in servers:
            if server and (r.name == server or r.name.startswith(server + "-")):
                return r, p.get("ipv4Address")
        if len(servers) == 1:
            return servers[0][0], servers[0][1].get("ipv4Address")
        return None, None

    def relayhost_of(self, dom: PolicyResource, props: dict) -> Optional[tuple[PolicyResource, dict]]:
        """The MailcowRelayhost a MailcowDomain sends through: by dependency, else by id on the same server."""
        rid = props.get("relayhost_id")
        for r, p in self.of(tokens.MAILCOW_RELAYHOST):
            if self.depends_on(dom, ("relayhost_id",), r):
                return r, p
            if known(rid) and str(p.get("relayhost_id")) == str(rid) and p.get("server") == props.get("server"):
                return r, p
        return None
