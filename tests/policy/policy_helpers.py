"""Build the arguments the engine hands a policy, and a small stack that passes every rule.

``conftest.py`` hands each test a fresh copy of that stack as the ``stack`` fixture.
"""

from __future__ import annotations

import copy
from typing import Iterable, Optional

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from coldmail.model import tokens
from policy.runner import default_options

STACK_URN = "urn:pulumi:prod::coldmail::pulumi:pulumi:Stack::coldmail-prod"


def urn(typ: str, name: str) -> str:
    return f"urn:pulumi:prod::coldmail::{typ}::{name}"


def check(policy, typ: str, props: dict, name: str = "res", config: Optional[dict] = None) -> list[str]:
    """Run a resource policy over one resource's inputs; the messages it reported."""
    found: list[str] = []
    args = ResourceValidationArgs(typ, props, urn(typ, name), name, default_options(), None, config)
    policy.validate(args, lambda msg, u=None: found.append(msg))
    return found


class Spec:
    """One stack resource before linking: outputs plus parent and property dependencies by name."""

    def __init__(self, typ: str, name: str, props: dict, parent: Optional[str] = None,
                 deps: Optional[dict[str, list[str]]] = None):
        self.typ, self.name, self.props, self.parent, self.deps = typ, name, props, parent, deps or {}


def build(specs: Iterable[Spec]) -> list[PolicyResource]:
    specs = list(specs)
    made = {s.name: PolicyResource(s.typ, copy.deepcopy(s.props), urn(s.typ, s.name), s.name,
                                   default_options(), None, None, [], {}) for s in specs}
    for s in specs:
        res = made[s.name]
        res.parent = made[s.parent] if s.parent else None
        res.property_dependencies = {k: [made[n] for n in v] for k, v in s.deps.items()}
        res.dependencies = [d for v in res.property_dependencies.values() for d in v]
    return list(made.values())


def check_stack(policy, specs: Iterable[Spec], config: Optional[dict] = None) -> list[tuple[str, str]]:
    """Run a stack policy; ``(message, resource name)`` per violation."""
    resources = build(specs)
    found: list[tuple[str, str]] = []
    policy.validate(StackValidationArgs(resources, config),
                    lambda msg, u=None: found.append((msg, (u or "").rsplit("::", 1)[-1])))
    return found


PRIMARY = "198.18.0.10"
FLOATING = "198.18.0.20"
HOST = "mx1.acme-mailops.com"
PTR1 = "mail1.acme-mailops.com"


def txt(value: str) -> str:
    return f'"{value}"'


def good_stack() -> dict[str, Spec]:
    """One server (primary IP + one floating IP), two domains: a.com sends from IP 0, b.com via the relay."""
    s = [
        Spec(tokens.HCLOUD_SERVER, "mx1-server", {"name": "mx1", "serverType": "cx42", "ipv4Address": PRIMARY}),
        Spec(tokens.FLOATING_IP, "mx1-fip-1", {"type": "ipv4", "homeLocation": "fsn1", "ipAddress": FLOATING}),
        Spec(tokens.RDNS, "mx1-rdns-0", {"ipAddress": PRIMARY, "dnsPtr": HOST}, deps={"serverId": ["mx1-server"]}),
        Spec(tokens.RDNS, "mx1-rdns-1", {"ipAddress": FLOATING, "dnsPtr": PTR1}, deps={"floatingIpId": ["mx1-fip-1"]}),
        Spec(tokens.DNS_RECORD, "mx1-dns-host", {"zoneId": "z0", "name": HOST, "type": "A", "content": PRIMARY,
                                            "proxied": False}),
        Spec(tokens.DNS_RECORD, "mx1-dns-ptr-1", {"zoneId": "z0", "name": PTR1, "type": "A", "content": FLOATING,
                                             "proxied": False}),
        Spec(tokens.MAILCOW_RELAYHOST, "mx1-relayhost-1", {"server": "mx1", "hostname": "[172.22.1.1]:2526",
                                                      "source_ip": FLOATING, "helo_name": PTR1,
                                                      "relayhost_id": "7"}),
    ]
    for dom, rid, ip in (("a.com", "0", PRIMARY), ("b.com", "7", FLOATING)):
        comp = dom.replace(".", "-")
        s += [
            Spec(tokens.MAIL_DOMAIN, comp, {}),
            Spec(tokens.MAILCOW_DOMAIN, f"{comp}-domain", {"domain": dom, "server": "mx1",
                                                      "api_url": f"https://{HOST}", "relayhost_id": rid},
                 parent=comp, deps={"relayhost_id": ["mx1-relayhost-1"]} if rid != "0" else {}),
            Spec(tokens.DNS_RECORD, f"{comp}-dns-spf", {"zoneId": f"z-{dom}", "name": dom, "type": "TXT",
                                                   "content": txt(f"v=spf1 ip4:{ip} -all"), "proxied": False},
                 parent=comp),
            Spec(tokens.DNS_RECORD, f"{comp}-dns-dmarc", {"zoneId": f"z-{dom}", "name": f"_dmarc.{dom}", "type": "TXT",
                                                     "content": txt("v=DMARC1; p=none; rua=mailto:r@x.com")},
                 parent=comp),
            Spec(tokens.MAILCOW_MAILBOX_SET, f"{comp}-mailboxes", {
                "domain": dom, "mailboxes": [{"local_part": "anna.berg"}, {"local_part": "jonas.schulz"}]},
                parent=comp),
        ]
    return {x.name: x for x in s}
