"""A recording mock engine: run a Pulumi program with no CLI, no plugins and no credentials.

``coldmail plan``, the program and component tests and the policy-pack tests all use it, so what they
see is what the real program registers. Cloud-assigned values (IDs, IP addresses, generated keys)
are deterministic placeholders: IPs come from 198.18.0.0/15 (RFC 2544, never routed) and a generated
secret is a visible placeholder, never anything that could be mistaken for a real credential.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import runpy
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import pulumi
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc

#: Prefix of every placeholder password or key the mocks return.
PLACEHOLDER = "PLACEHOLDER"
#: DKIM keys exist only once Mailcow made them; the plan shows this marker instead.
DKIM_PENDING = "PENDING"
_PLACEHOLDER_NET = ipaddress.ip_network("198.18.0.0/15")
_PLACEHOLDER_NET6 = ipaddress.ip_network("2001:db8::/32")


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
    resources: list[Recorded]
    invokes: list[tuple[str, dict[str, Any]]]
    logs: list[tuple[str, str]]
    error: Optional[BaseException]
    outputs: dict[str, Any]

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == typ]

    def named(self, name: str) -> Recorded:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}")
        return found[0]

    def by_urn(self, urn: str) -> Recorded:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise KeyError(urn)

    def descends_from(self, r: Recorded, ancestor_urn: str) -> bool:
        seen = set()
        while r.parent and r.parent not in seen:
            if r.parent == ancestor_urn:
                return True
            seen.add(r.parent)
            try:
                r = self.by_urn(r.parent)
            except KeyError:
                return False
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
    base = f"{PLACEHOLDER}-{name}-"
    return (base * (length // len(base) + 1))[: max(length, len(PLACEHOLDER))]


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


def _has_secret(value: Any) -> bool:
    if rpc.is_rpc_secret(value):
        return True
    if isinstance(value, Mapping):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_secret(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class RecordingMonitor(_mocks.MockMonitor):
    """The SDK's mock monitor, plus a record of the options the engine would get for each resource."""

    def __init__(self, mocks: ColdmailMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Recorded] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request):  # noqa: N802 (gRPC name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw_inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        registration = self.resources.get(response.urn)
        rec = Recorded(
            type=request.type, name=request.name, urn=response.urn, id=response.id,
            inputs=_plain(raw_inputs), outputs=_plain(dict(registration.state)) if registration else {},
            custom=bool(request.custom), parent=request.parent, provider=request.provider,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            delete_before_replace=bool(request.deleteBeforeReplace),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            replace_on_changes=list(request.replaceOnChanges), ignore_changes=list(request.ignoreChanges),
            protect=bool(request.protect),
            secret_inputs=sorted(k for k, v in raw_inputs.items() if _has_secret(v)))
        with self._lock:
            self.recorded.append(rec)
        return response


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
                stack: str = "prod", secret_keys: Sequence[str] = (), preview: bool = False,
                mocks: Optional[ColdmailMocks] = None) -> ProgramRun:
    """Run ``program`` (a callable, or the path of a ``__main__.py``) under recording mocks.

    ``config`` maps namespaced keys (``coldmail:servers``) to values; structured values may be given as
    Python objects. Returns every registration; an exception raised by the program is returned in
    ``error`` rather than raised, together with whatever was registered before it.
    """
    mocks = mocks or ColdmailMocks()
    monitor = RecordingMonitor(mocks)
    capture = _LogCapture()
    logger = logging.getLogger(f"coldmail.engine.{id(capture)}")
    logger.propagate = False
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
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, logger=logger,
                                 monitor=monitor)
        pulumi.runtime.set_all_config(_encode_config(config), secret_keys=list(secret_keys))

        @pulumi.runtime.test
        def _run():
            if callable(program):
                program()
            else:
                runpy.run_path(program, run_name="__main__")
            root = pulumi.runtime.settings.get_root_resource()
            exported = dict(getattr(root, "outputs", {}) or {})
            return pulumi.Output.all(**exported).apply(outputs.update) if exported else None

        _run()
    except BaseException as exc:  # noqa: BLE001 - reported to the caller, who decides
        error = _unwrap(exc)
    finally:
        loop.close()
        asyncio.set_event_loop(previous)
        logger.removeHandler(capture)
    return ProgramRun(list(monitor.recorded), list(mocks.invokes), capture.records, error, outputs)


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
