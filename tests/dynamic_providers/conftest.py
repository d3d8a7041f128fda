"""Fixtures for driving the real Mailcow providers over gRPC against the emulator.

One provider process per test module (``provider_session``), one fresh emulator per test
(``emulator``). :class:`MailStack` plays the engine for a set of domains: Domain → (Dkim, MailboxSet)
in dependency order, each through ``DynamicResource.up`` so every step is Check → Create or
Check → Diff → Update, exactly as ``pulumi up`` would run it.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import pytest

from dynamic_providers import MailcowDkimProvider, MailcowDomainProvider, MailcowMailboxSetProvider
from tests.support import grpc_harness
from tests.support.grpc_harness import DynamicResource, ProviderHarness, Secret
from tests.support.mailcow_emulator import MailcowEmulator

#: Obviously fake; the emulator accepts it, nothing else would.
API_KEY = "FAKE-GRPC-TEST-KEY-0000-0000"
SERVER = "mx1"


def servers_config(api_key: str = API_KEY, server: str = SERVER) -> dict:
    """The stack config the engine sends to Configure: ``coldmail:servers`` (a secret, as JSON)."""
    return {"coldmail:servers": [{"name": server, "hostname": "mail.emulator.test", "mailcowApiKey": api_key}]}


def start_session(api_key: str = API_KEY, **kw: Any) -> grpc_harness.HarnessSession:
    return grpc_harness.start(servers_config(api_key), secret_keys=["coldmail:servers"], **kw)


@pytest.fixture(scope="module")
def provider_session():
    session = start_session()
    yield session
    session.close()


@pytest.fixture
def emulator():
    mc = MailcowEmulator(api_key=API_KEY).start()
    yield mc
    mc.stop()


def mailbox_specs(domain: str, count: int, start: int = 0) -> list[dict]:
    return [{"local_part": f"user{i:03d}", "name": f"User {i:03d}", "quota_mb": 100, "active": True}
            for i in range(start, start + count)]


def fake_password(domain: str, local_part: str) -> str:
    return f"fake-pw-{local_part}-{domain.split('.')[0]}"


class MailStack:
    """The engine's view of one stack: per domain a MailcowDomain, MailcowDkim and MailcowMailboxSet."""

    def __init__(self, harness: ProviderHarness, api_url: str, *, providers: Optional[dict] = None,
                 server: str = SERVER) -> None:
        self.h = harness
        self.api_url = api_url
        self.server = server
        self.providers = providers or {}
        #: domain → {"mailboxes": [...], "passwords": {...}}
        self.desired: dict[str, dict] = {}
        self.res: dict[str, dict[str, DynamicResource]] = {}

    def _provider(self, cls):
        p = cls()
        # Tests may shorten the client's backoff; set on the instance so it travels in ``__provider``.
        if cls in self.providers:
            p.client_options = self.providers[cls]
        return p

    def set_domain(self, domain: str, mailboxes: list[dict], passwords: Optional[dict] = None) -> None:
        passwords = passwords or {m["local_part"]: fake_password(domain, m["local_part"]) for m in mailboxes}
        self.desired[domain] = {"mailboxes": [dict(m) for m in mailboxes], "passwords": dict(passwords)}
        if domain not in self.res:
            slug = domain.replace(".", "-")
            self.res[domain] = {
                "domain": self.h.resource(self._provider(MailcowDomainProvider), "MailcowDomain", f"{slug}-domain"),
                "dkim": self.h.resource(self._provider(MailcowDkimProvider), "MailcowDkim", f"{slug}-dkim"),
                "mailboxes": self.h.resource(self._provider(MailcowMailboxSetProvider), "MailcowMailboxSet",
                                             f"{slug}-mailboxes"),
            }

    def conn(self) -> dict:
        return {"api_url": self.api_url, "server": self.server, "verify_tls": True}

    def inputs(self, domain: str, kind: str) -> dict:
        want = self.desired[domain]
        if kind == "domain":
            return {**self.conn(), "domain": domain, "description": f"coldmail {domain}", "max_mailboxes": 100,
                    "max_aliases": 400, "domain_quota_mb": 51200, "max_mailbox_quota_mb": 10240,
                    "default_mailbox_quota_mb": 100, "relayhost_id": "0", "active": True}
        if kind == "dkim":
            return {**self.conn(), "domain": domain, "selector": "dkim", "key_size": 2048}
        return {**self.conn(), "domain": domain, "mailboxes": want["mailboxes"],
                "passwords": Secret(dict(want["passwords"]))}

    def up_domain(self, domain: str) -> dict[str, str]:
        """One domain's resources in dependency order; returns the step taken for each."""
        ops = {}
        for kind in ("domain", "dkim", "mailboxes"):
            ops[kind] = self.res[domain][kind].up(self.inputs(domain, kind)).op
        return ops

    def up(self, domains: Optional[Iterable[str]] = None) -> dict[str, dict[str, str]]:
        return {d: self.up_domain(d) for d in (domains or list(self.desired))}

    def preview(self) -> dict[str, dict]:
        return {d: {k: self.res[d][k].preview(self.inputs(d, k)) for k in ("domain", "dkim", "mailboxes")}
                for d in self.desired}

    def destroy(self) -> None:
        """Delete in reverse dependency order: MailboxSet, Dkim, Domain."""
        for d in list(self.res):
            for kind in ("mailboxes", "dkim", "domain"):
                self.res[d][kind].destroy()


def assert_converged(mc: MailcowEmulator, stack: MailStack) -> None:
    """The emulator holds exactly the desired domains, DKIM keys and mailboxes, with the right passwords."""
    with mc.lock:
        domains = set(mc.domains)
        dkim = set(mc.dkim)
        boxes = {addr: dict(row) for addr, row in mc.mailboxes.items()}
    assert domains == set(stack.desired), f"domains: {sorted(domains ^ set(stack.desired))} differ"
    assert dkim == set(stack.desired), f"DKIM keys: {sorted(dkim ^ set(stack.desired))} differ"
    want = {f"{m['local_part']}@{d}": (m, spec["passwords"][m["local_part"]])
            for d, spec in stack.desired.items() for m in spec["mailboxes"]}
    assert set(boxes) == set(want), (f"missing: {sorted(set(want) - set(boxes))}, "
                                     f"unexpected: {sorted(set(boxes) - set(want))}")
    for addr, (m, pw) in want.items():
        row = boxes[addr]
        assert row["name"] == m["name"], f"{addr}: name {row['name']!r} != {m['name']!r}"
        assert row["quota"] == m["quota_mb"] * 1048576, f"{addr}: quota {row['quota']}"
        assert bool(row["active"]) == m["active"], f"{addr}: active {row['active']}"
        assert mc.check_password(addr, pw), f"{addr}: password not the desired one"


def writes(mc: MailcowEmulator) -> list[str]:
    return [c.endpoint for c in mc.calls if c.kind == "write"]

