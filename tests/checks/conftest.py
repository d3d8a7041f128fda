"""Shared fixtures of the checks' tests: a test stack, its live zones on a real DNS server, Mailcow's keys.

The stack has one server with three floating IPs: ip1 sends for two domains, ip2 for one, ip0 (the
primary) for one, ip3 is a standby with none. Addresses are from TEST-NET-3. ``live_zone`` serves
exactly what the stack expects, so a test that changes one record knows the one verdict that changes.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import pytest

from coldmail import model as cm
from coldmail.checks import CheckContext, Dns, Targets
from coldmail.model.records import SendingAddresses, domain_records, report_authorizations, report_zone_records
from tests.checks.dnszone import ZoneServer
from tests.ops.test_notify import hook, no_sleep  # noqa: F401 - the apprise JSON webhook fixture, shared
from tests.support.mailcow_emulator import MailcowEmulator

SSH_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITESTKEYTESTKEYTESTKEYTESTKEY test@example"
#: The Mailcow emulator's key: obviously fake, accepted by nothing else.
MAILCOW_KEY = "TEST-ONLY-KEY-0000-0000"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)

STACK_RAW = {
    "servers": [{"name": "mx1", "hostname": "mx1.ops-test.com", "floatingIps": 3, "ipv6": False,
                 "sshPublicKey": SSH_PUB, "adminCidrs": ["203.0.113.0/28"], "mailcowApiKey": MAILCOW_KEY}],
    "domains": [
        {"name": "acme-alpha.com", "ip": 1, "mailboxes": {"count": 2}},
        {"name": "acme-beta.io", "ip": 1, "mailboxes": {"count": 2}},
        {"name": "acme-gamma.co", "ip": 2, "mailboxes": {"count": 2}},
        {"name": "acme-delta.net", "ip": 0, "mailboxes": {"count": 2}},
    ],
    "dmarc": {"phase": "none", "rua": "dmarc@ops-test.com"},
    "dns": {"tlsRpt": True, "tlsRptRua": "tls@ops-test.com", "autoconfig": False},
    "names": {"firstNames": ["Anna", "Jonas"], "lastNames": ["Berg", "Koch"]},
    "checks": {"timeout": 1.0},
}
ADDRESSES = {0: "203.0.113.10", 1: "203.0.113.11", 2: "203.0.113.12", 3: "203.0.113.13"}
PTRS = {0: "mx1.ops-test.com", 1: "mx1-ip1.ops-test.com", 2: "mx1-ip2.ops-test.com", 3: "mx1-ip3.ops-test.com"}


def outputs_for(addresses=ADDRESSES) -> dict:
    """``pulumi stack output`` as the program exports ``servers``."""
    return {"servers": {"mx1": {"ipv4_address": addresses[0], "ipv6_address": None, "hostname": PTRS[0],
                                "floating_ips": [{"index": n, "ip": addresses[n], "ptr": PTRS[n]} for n in (1, 2, 3)]}}}


def stack_raw(**changes) -> dict:
    raw = copy.deepcopy(STACK_RAW)
    for key, value in changes.items():
        raw[key] = value
    return raw


def with_checks(stack: cm.StackConfig, **changes) -> cm.StackConfig:
    """``stack`` with some ``coldmail:checks`` settings replaced (e.g. the outbound probe on loopback)."""
    return dataclasses.replace(stack, checks=dataclasses.replace(stack.checks, **changes))


def reverse(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"


def serve_stack(zone: ZoneServer, stack: cm.StackConfig, addresses: dict[int, str], dkim: dict[str, str]) -> None:
    """Everything the stack expects, live: domain records, the report domain's records and the report
    authorisation, host A records, PTRs."""
    targets = Targets.build(stack, outputs_for(addresses))
    specs = [s for t in targets.domains for s in domain_records(stack, t.domain, targets.sending(t), dkim[t.name])]
    specs += report_zone_records(stack, SendingAddresses((addresses[0],))) + report_authorizations(stack)
    for spec in specs:
        if spec.type == "MX":
            zone.add(spec.name, "MX", f"{spec.priority} {spec.content}")
        elif spec.type == "SRV":
            d = spec.data
            zone.add(spec.name, "SRV", f"{d['priority']} {d['weight']} {d['port']} {d['target']}")
        else:
            zone.add(spec.name, spec.type, spec.value)
    for n, address in addresses.items():
        zone.add(PTRS[n], "A", address)
        zone.add(reverse(address), "PTR", PTRS[n])


@pytest.fixture
def mailcow():
    """Mailcow's API on loopback with a DKIM key for every domain of the stack."""
    with MailcowEmulator(api_key=MAILCOW_KEY) as mc:
        for d in STACK_RAW["domains"]:
            mc.seed_dkim(d["name"], "dkim", 2048)
        yield mc


def dkim_txt(mc: MailcowEmulator) -> dict[str, str]:
    """Mailcow's TXT value per domain, as its API hands it out."""
    return {d: f"v=DKIM1;k=rsa;t=s;s=email;p={e['pubkey']}" for d, e in mc.dkim.items()}


@pytest.fixture
def zone():
    with ZoneServer() as z:
        yield z


@pytest.fixture
def stack() -> cm.StackConfig:
    return cm.load(stack_raw())


@pytest.fixture
def live_zone(zone, stack, mailcow):
    serve_stack(zone, stack, ADDRESSES, dkim_txt(mailcow))
    return zone


def make_ctx(zone: ZoneServer, stack: cm.StackConfig, mailcow=None, outputs=None, **kw) -> CheckContext:
    kw.setdefault("now", lambda: NOW)
    kw.setdefault("env", {})
    kw.setdefault("mailcow_urls", {"mx1": mailcow.url} if mailcow is not None else {})
    return CheckContext(
        stack_name="prod", targets=Targets.build(stack, outputs_for() if outputs is None else outputs),
        dns=Dns([zone.address], timeout=stack.checks.timeout), **kw)


def verdicts(observations) -> dict[tuple[str, str], str]:
    """``{(check, subject): status}``, the form every expected-verdict table in these tests uses."""
    out = {}
    for o in observations:
        assert (o.check, o.subject) not in out, f"two observations for {(o.check, o.subject)}"
        out[(o.check, o.subject)] = o.status
    return out
