"""A recording mock engine: run a Pulumi program with no CLI, no plugins and no credentials.

``coldmail plan``, the program and component tests and the policy-pack tests all use it, so what they
see is what the real program registers. Cloud-assigned values (IDs, IP addresses, generated keys)
are deterministic placeholders: IPs come from 198.18.0.0/15 (RFC 2544, never routed) and a generated
secret is a visible placeholder, never anything that could be mistaken for a real credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import ipaddress
import json
import logging
import runpy
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Union

import pulumi
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

#: Prefix of every placeholder password or key the mocks return.
PLACEHOLDER = "PLACEHOLDER"
#: DKIM keys exist only once Mailcow made them; the plan shows this marker instead.
DKIM_PENDING = "PENDING"
_PLACEHOLDER_NET = ipaddress.ip_network("198.18.0.0/15")
_PLACEHOLDER_NET6 = ipaddress.ip_network("2001:db8::/32")
#: ``PLACEHOLDER-`` and 12 digest characters: short enough for any secret, long enough to stay unique.
_MIN_PLACEHOLDER = len(PLACEHOLDER) + 13


@dataclass
class Recorded:
    """One resource registration as the engine saw it."""

    type: str
    name: str
    urn: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    custom: bool
    parent: str
    provider: str
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    delete_before_replace: bool = False
    additional_secret_outputs: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    protect: bool = False
    secret_inputs: list[str] = field(default_factory=list)
    """Top-level input keys whose value was (or contained) a secret."""


@dataclass
class ProgramRun:
    """Every registration of one program run, indexed once: lookups cost the same at 10 or 10,000 resources.

    The run is read-only once :func:`run_program` returns; the indexes are built on first use.
    """

    resources: list[Recorded]
    invokes: list[tuple[str, dict[str, Any]]]
    logs: list[tuple[str, str]]
    error: Optional[BaseException]
    outputs: dict[str, Any]

    @cached_property
    def _by_urn(self) -> dict[str, Recorded]:
        return {r.urn: r for r in self.resources}

    def _grouped(self, key: Callable[[Recorded], str]) -> dict[str, list[Recorded]]:
        out: dict[str, list[Recorded]] = {}
        for r in self.resources:
            out.setdefault(key(r), []).append(r)
        return out

    @cached_property
    def _by_type(self) -> dict[str, list[Recorded]]:
        return self._grouped(lambda r: r.type)

    @cached_property
    def _by_name(self) -> dict[str, list[Recorded]]:
        return self._grouped(lambda r: r.name)

    @cached_property
    def _children(self) -> dict[str, list[Recorded]]:
        return self._grouped(lambda r: r.parent)

    def of_type(self, typ: str) -> list[Recorded]:
        return list(self._by_type.get(typ, ()))

    def named(self, name: str) -> Recorded:
        found = self._by_name.get(name, [])
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}")
        return found[0]

    def find(self, typ: str, name: str) -> Optional[Recorded]:
        """The resource of type ``typ`` named ``name``, or None."""
        return next((r for r in self._by_name.get(name, ()) if r.type == typ), None)

    def by_urn(self, urn: str) -> Recorded:
        return self._by_urn[urn]

    def children(self, urn: str) -> list[Recorded]:
        return list(self._children.get(urn, ()))

    def descendants(self, urn: str, typ: Optional[str] = None) -> list[Recorded]:
        """Every resource below ``urn`` (children, their children...), in registration order per level."""
        out: list[Recorded] = []
        todo = [urn]
        while todo:
            for r in self._children.get(todo.pop(), ()):
                todo.append(r.urn)
                if typ is None or r.type == typ:
                    out.append(r)
        return out

    def descends_from(self, r: Recorded, ancestor_urn: str) -> bool:
        seen = set()
        while r.parent and r.parent not in seen:
            if r.parent == ancestor_urn:
                return True
            seen.add(r.parent)
            parent = self._by_urn.get(r.parent)
            if parent is None:
                return False
            r = parent
        return False


def _digest(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


class _Allocator:
    """Deterministic, collision-free placeholder addresses keyed by resource name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: dict[str, str] = {}
        self._used: set[str] = set()

    def ip(self, key: str, v6: bool = False) -> str:
        with self._lock:
            if key in self._taken:
                return self._taken[key]
            net = _PLACEHOLDER_NET6 if v6 else _PLACEHOLDER_NET
            span = net.num_addresses - 2 if not v6 else 2**32
            n = _digest(key)
            while True:
                addr = str(net.network_address + 1 + (n % span))
                if addr not in self._used:
                    break
                n += 1
            self._used.add(addr)
            self._taken[key] = addr
            return addr


def placeholder_secret(name: str, length: int) -> str:
    """A visible stand-in secret of ``length`` characters, distinct for every ``name``.

    The name's digest comes first, so two resources never share a value even when their names only
    differ past the cut: a password attached to the wrong mailbox stays detectable.
    """
    base = f"{PLACEHOLDER}-{hashlib.sha256(name.encode()).hexdigest()[:16]}-{name}-"
    return (base * (length // len(base) + 1))[: max(length, _MIN_PLACEHOLDER)]


def pending_dkim_key(domain: str) -> str:
    """A stand-in public key of real 2048-bit length, so TXT chunking is exercised like the real one."""
    body = hashlib.sha512(domain.encode()).hexdigest()
    return (DKIM_PENDING + (body * 4))[:392]


class ColdmailMocks(pulumi.runtime.Mocks):
    """Outputs for every resource type coldmail registers, shaped like the real providers'."""

    def __init__(self) -> None:
        self.alloc = _Allocator()
        self._ids = 0
        self._lock = threading.Lock()
        self.invokes: list[tuple[str, dict[str, Any]]] = []

    def _next_id(self) -> str:
        with self._lock:
            self._ids += 1
            return str(100000 + self._ids)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        outs = dict(inputs)
        rid = self._next_id()
        if typ == "hcloud:index/server:Server":
            outs.update(ipv4Address=self.alloc.ip(f"{name}/v4"), status="running")
            v6 = self.alloc.ip(f"{name}/v6", v6=True)
            outs.update(ipv6Address=v6, ipv6Network=v6 + "/64")
        elif typ == "hcloud:index/floatingIp:FloatingIp":
            outs["ipAddress"] = self.alloc.ip(name, v6=inputs.get("type") == "ipv6")
        elif typ == "hcloud:index/primaryIp:PrimaryIp":
            outs["ipAddress"] = self.alloc.ip(name, v6=inputs.get("type") == "ipv6")
        elif typ.startswith("random:index/randomPassword:") or typ.startswith("random:index/randomString:"):
            outs["result"] = placeholder_secret(name, int(inputs.get("length", 24)))
            outs["bcryptHash"] = PLACEHOLDER
        elif typ == "tls:index/privateKey:PrivateKey":
            algo = str(inputs.get("algorithm", "ED25519")).lower()
            outs.update(publicKeyOpenssh=f"ssh-{algo} {PLACEHOLDER}-{name}", privateKeyOpenssh=PLACEHOLDER,
                        privateKeyPem=PLACEHOLDER, publicKeyPem=PLACEHOLDER)
        elif typ == "command:remote:Command":
            outs.setdefault("stdout", "")
            outs.setdefault("stderr", "")
        elif typ == "cloudflare:index/dnsRecord:DnsRecord":
            rid = hashlib.md5(f"{inputs.get('zoneId')}/{inputs.get('type')}/{inputs.get('name')}/{name}".encode()).hexdigest()
        elif typ == "pulumi-python:dynamic/coldmail:MailcowDkim":
            key = pending_dkim_key(str(inputs.get("domain")))
            outs.update(public_key=key, dns_name=f"{inputs.get('selector')}._domainkey.{inputs.get('domain')}",
                        txt_value=f"v=DKIM1;k=rsa;t=s;s=email;p={key}")
            rid = str(inputs.get("domain"))
        elif typ == "pulumi-python:dynamic/coldmail:MailcowMtaSts":
            from coldmail.model.records import mta_sts_policy, mta_sts_policy_id

            policy = mta_sts_policy(str(inputs.get("mode")), [str(h) for h in inputs.get("mx") or []],
                                    int(inputs.get("max_age") or 604800))
            outs.update(policy=policy, policy_id=mta_sts_policy_id(policy))
            rid = str(inputs.get("domain"))
        elif typ == "pulumi-python:dynamic/coldmail:MailcowRelayhost":
            rid = str(1 + _digest(inputs.get("server"), inputs.get("hostname")) % 9000)
            outs["relayhost_id"] = rid
        elif typ == "pulumi-python:dynamic/coldmail:MailcowMailboxSet":
            boxes = inputs.get("mailboxes") or []
            outs.pop("passwords", None)
            outs["addresses"] = [f"{m.get('local_part')}@{inputs.get('domain')}" for m in boxes]
            outs["mailboxes"] = [dict(m, password_fingerprint=PLACEHOLDER) for m in boxes]
            rid = str(inputs.get("domain"))
        elif typ == "pulumi-python:dynamic/coldmail:MailcowDomain":
            rid = str(inputs.get("domain"))
        return rid, outs

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append((args.token, dict(args.args)))
        if args.token == "cloudflare:index/getZone:getZone":
            zone_name = (args.args.get("filter") or {}).get("name") or args.args.get("zoneId")
            zid = hashlib.md5(str(zone_name).encode()).hexdigest()
            return {"id": zid, "zoneId": zid, "name": zone_name, "status": "active"}
        return {}


def _plain(value: Any) -> tuple[Any, bool]:
    """``value`` with every wire-secret wrapper removed, and whether it held one (one walk for both)."""
    if isinstance(value, dict):
        if rpc.is_rpc_secret(value):
            return _plain(value["value"])[0], True
        out, secret = {}, False
        for k, v in value.items():
            out[k], inner = _plain(v)
            secret = secret or inner
        return out, secret
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


class RecordingMonitor(_mocks.MockMonitor):
    """The SDK's mock monitor, plus a record of the options the engine would get for each resource.

    It answers ``RegisterResource`` itself so each request is deserialized once, for the mocks and the
    record alike.
    """

    def __init__(self, mocks: ColdmailMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Recorded] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request):  # noqa: N802 (gRPC name)
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        _ensure_event_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        raw_inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        rid, state = self.mocks.new_resource(_mocks.MockResourceArgs(
            typ=request.type, name=request.name, inputs=raw_inputs, provider=request.provider,
            resource_id=request.importId, custom=request.custom or False))
        obj = _sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = _mocks.MockMonitor.ResourceRegistration(urn, rid, state)
        inputs, secret_inputs = {}, []
        for key, value in raw_inputs.items():
            inputs[key], secret = _plain(value)
            if secret:
                secret_inputs.append(key)
        rec = Recorded(
            type=request.type, name=request.name, urn=urn, id=rid or "",
            inputs=inputs, outputs=_plain(state)[0],
            custom=bool(request.custom), parent=request.parent, provider=request.provider,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            delete_before_replace=bool(request.deleteBeforeReplace),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            replace_on_changes=list(request.replaceOnChanges), ignore_changes=list(request.ignoreChanges),
            protect=bool(request.protect),
            secret_inputs=sorted(secret_inputs))
        with self._lock:
            self.recorded.append(rec)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=rid, object=obj)


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname.lower(), record.getMessage()))


def _encode_config(config: Mapping[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


Program = Union[Callable[[], Any], str]


def run_program(program: Program, config: Mapping[str, Any], *, project: str = "coldmail",
                stack: str = "prod", secret_keys: Sequence[str] = (), mocks: Optional[ColdmailMocks] = None,
                read_exports: bool = True) -> ProgramRun:
    """Run ``program`` (a callable, or the path of a ``__main__.py``) under recording mocks.

    ``config`` maps namespaced keys (``coldmail:servers``) to values; structured values may be given as
    Python objects. Returns every registration; an exception raised by the program is returned in
    ``error`` rather than raised, together with whatever was registered before it. The run is an update,
    not a preview, so every Output resolves and the mocks only ever see known values. With
    ``read_exports`` false the stack's exports are left unread (``outputs`` stays empty), which saves
    resolving every exported value when only the registrations matter.
    """
    mocks = mocks or ColdmailMocks()
    monitor = RecordingMonitor(mocks)
    capture = _LogCapture()
    logger = logging.getLogger(f"coldmail.engine.{id(capture)}")
    logger.propagate = False
    # The SDK logs a few debug lines per resource; nobody reads them, so they are never formatted.
    logger.setLevel(logging.INFO)
    logger.addHandler(capture)
    error: Optional[BaseException] = None
    outputs: dict[str, Any] = {}

    # The root Stack resource binds its futures to the loop current at set_mocks, so each run gets a
    # fresh loop and a fresh root before anything registers.
    loop = asyncio.new_event_loop()
    previous = _current_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.settings.ROOT.set(None)
    try:
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, logger=logger,
                                 monitor=monitor)
        pulumi.runtime.set_all_config(_encode_config(config), secret_keys=list(secret_keys))

        @pulumi.runtime.test
        def _run():
            if callable(program):
                program()
            else:
                runpy.run_path(program, run_name="__main__")
            if not read_exports:
                return None
            root = pulumi.runtime.settings.get_root_resource()
            exported = dict(getattr(root, "outputs", {}) or {})
            return pulumi.Output.all(**exported).apply(outputs.update) if exported else None

        with engine_runtime():
            _run()
    except BaseException as exc:  # noqa: BLE001 - reported to the caller, who decides
        error = _unwrap(exc)
    finally:
        loop.close()
        asyncio.set_event_loop(previous)
        logger.removeHandler(capture)
    return ProgramRun(list(monitor.recorded), list(mocks.invokes), capture.records, error, outputs)


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


@contextlib.contextmanager
def engine_runtime() -> Iterator[None]:
    """The runtime settings of a mocked run; whatever they were is restored afterwards.

    - The SDK's capture of where each resource was declared is skipped: it walks the whole Python stack
      per resource, and only a real engine reads it.
    - The cyclic garbage collector is paused: a run makes millions of short-lived objects (an Output, a
      future and a task per property), and scanning them costs a third of the run, while the cycles it
      leaves behind are a few MB that the collector takes once it runs again.
    """
    original = getattr(sdk_resource, "_get_stack_trace", None)
    collecting = gc.isenabled()
    if original is not None:
        sdk_resource._get_stack_trace = _no_stack_trace
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
        if original is not None:
            sdk_resource._get_stack_trace = original


def _current_loop():
    try:
        return asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return None


def _unwrap(exc: BaseException) -> BaseException:
    """The SDK wraps program errors in several layers; the caller wants the original."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or exc.__context__
        if isinstance(exc, (RuntimeError,)) and inner is not None and type(exc).__module__.startswith("pulumi"):
            exc = inner
            continue
        break
    return exc
