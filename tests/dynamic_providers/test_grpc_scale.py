"""1,200 dynamic resources in one program process: no RecursionError, thanks to ``SafeResource``.

pulumi 3.272.0's ``serialize_provider`` wraps ``pickle._Pickler._batch_setitems`` in one more closure
per dynamic resource and never unwraps it; pickling then recurses through the whole chain and dies near
980 resources. The first test shows the SDK alone crashes; the second builds 1,200 real Mailcow resources
under ``pulumi.runtime.set_mocks`` and shows the chain stays one wrapper deep.
"""

from __future__ import annotations

import base64
import pickle

import dill
import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from coldmail.model import tokens
from dynamic_providers import (MailcowDkim, MailcowDkimArgs, MailcowDomain, MailcowDomainArgs, MailcowDomainProvider,
                               MailcowMailboxSet, MailcowMailboxSetArgs)
from dynamic_providers import base

COUNT = 1200
PER_DOMAIN = 3  # Domain, Dkim, MailboxSet


def wrapper_depth() -> int:
    """How many sorting wrappers ``serialize_provider`` has stacked on ``_batch_setitems``."""
    f, depth = pickle._Pickler._batch_setitems, 0  # type: ignore[attr-defined]
    while getattr(f, "__closure__", None):
        inner = [c.cell_contents for c in f.__closure__ if callable(c.cell_contents)]
        if not inner:
            break
        f, depth = inner[0], depth + 1
    return depth


@pytest.fixture
def pristine_pickler():
    pickle._Pickler._batch_setitems = base._ORIGINAL_BATCH_SETITEMS  # type: ignore[attr-defined]
    yield
    pickle._Pickler._batch_setitems = base._ORIGINAL_BATCH_SETITEMS  # type: ignore[attr-defined]


def test_sdk_serialize_provider_alone_crashes_before_1200_resources(pristine_pickler):
    # Stateless providers only stack wrappers; the chain is walked, and the stack blown, as soon as
    # a provider with instance state (here: the client options tests set) is pickled.
    stateless, stateful = MailcowDomainProvider(), MailcowDomainProvider()
    stateful.client_options = {"backoff": 0.5}
    crashed_at = None
    for n in range(1, COUNT + 1):
        serialize_provider(stateless)
        assert wrapper_depth() == n, "each call stacks exactly one more wrapper"
        try:
            serialize_provider(stateful)
        except RecursionError:
            crashed_at = n
            break
        assert wrapper_depth() == n + 1
        pickle._Pickler._batch_setitems = _unwrap_once(pickle._Pickler._batch_setitems)
    assert crashed_at is not None and crashed_at < COUNT, "the SDK bug this project works around is gone"


def _unwrap_once(f):
    return [c.cell_contents for c in f.__closure__ if callable(c.cell_contents)][0]


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[tuple[str, str, dict]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.registered.append((args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def test_1200_safe_resources_register_without_recursion_error(pristine_pickler):
    mocks = _Mocks()
    pulumi.runtime.set_mocks(mocks, project="coldmail", stack="scale", preview=False)
    depths: list[int] = []

    @pulumi.runtime.test
    def build():
        conn = {"api_url": "https://mail.example.test", "server": "mx1"}
        for i in range(COUNT // PER_DOMAIN):
            d = f"d{i:04d}.example.test"
            slug = d.replace(".", "-")
            MailcowDomain(f"{slug}-domain", MailcowDomainArgs(**conn, domain=d, max_mailboxes=50))
            MailcowDkim(f"{slug}-dkim", MailcowDkimArgs(**conn, domain=d))
            MailcowMailboxSet(f"{slug}-mailboxes", MailcowMailboxSetArgs(
                **conn, domain=d, mailboxes=[{"local_part": "a", "name": "A", "quota_mb": 100, "active": True}],
                passwords={"a": "fake-scale-password"}))
            depths.append(wrapper_depth())

    build()
    custom = [r for r in mocks.registered if r[0].startswith(tokens.dynamic(""))]
    assert len(custom) == COUNT
    assert {t for t, _, _ in custom} == {tokens.MAILCOW_DOMAIN, tokens.MAILCOW_DKIM, tokens.MAILCOW_MAILBOX_SET}
    assert max(depths) <= 1, f"wrapper chain grew to {max(depths)}"
    # Every stored payload is still the deterministic by-reference pickle the provider process can load.
    payloads = {t: rpc.unwrap_rpc_secret(inputs["__provider"]) for t, _, inputs in custom}
    for typ, payload in payloads.items():
        provider = dill.loads(base64.b64decode(payload))
        assert typ.endswith(type(provider).__name__.removesuffix("Provider"))
        assert len(payload) < 400, "providers are pickled by reference, not by value"
