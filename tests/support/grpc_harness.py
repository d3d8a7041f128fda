"""Drive the SDK's real dynamic-provider gRPC server the way the Pulumi engine does.

The engine starts ``python -m pulumi.dynamic`` from the program's directory, reads the port from its
first stdout line, sends ``Configure`` with the whole stack config, then ``Check`` → ``Create``, or
``Check`` → ``Diff`` → ``Update``/replace, ``Read`` on refresh and ``Delete`` on destroy. Every property
map carries ``__provider``: the base64 dill payload the program stored (``serialize_provider``).

What the engine sends, and so what this harness sends:
- ``Configure.args``: every stack config value under its namespaced key (``coldmail:servers``), as the
  string the config holds (objects as JSON), secret ones wrapped as secrets; ``variables`` the same
  strings, unwrapped.
- The SDK server answers ``acceptSecrets=False``; the engine then strips secret wrappers from every
  later request. ``ProviderHarness(wire_secrets="engine")`` does that; ``wire_secrets="keep"`` sends the
  marked secret inputs (never ``__provider``) wrapped, for providers that must cope with either.
- ``Check(olds=old inputs, news)``, ``Diff/Update(olds=old outputs, news=checked inputs,
  old_inputs)``, ``Read(properties=old outputs, inputs=old inputs)``, ``Delete(properties=old outputs)``.

URNs have the engine's shape for a top-level dynamic resource:
``urn:pulumi:<stack>::<project>::pulumi-python:dynamic/coldmail:<Class>::<name>``
(default stack ``grpc-test``, project ``coldmail``).

Serialisation runs on a private event loop per thread, never set as the thread's loop: ``asyncio.run()``
would close and replace the thread's loop and break later ``pulumi.runtime.set_mocks`` tests in the same
session.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import grpc
from pulumi.dynamic import CreateResult, ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_KEY = "__provider"
DEFAULT_PROJECT = "coldmail"
DEFAULT_STACK = "grpc-test"
# The engine has no per-call deadline; this only stops a hung provider from hanging the suite.
CALL_TIMEOUT_S = 120.0
#: A provider's error arrives as the gRPC status message, a trailing-metadata entry holding the whole
#: traceback. grpcio refuses metadata past 8 KiB by default (RESOURCE_EXHAUSTED "metadata size exceeds soft
#: limit"), which hides a long chained error; the engine takes messages this large.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 400 * 1024 * 1024),
                   ("grpc.max_metadata_size", 4 * 1024 * 1024),
                   ("grpc.absolute_max_metadata_size", 4 * 1024 * 1024)]


class ProviderError(Exception):
    """A provider method raised: the gRPC status the engine would show, with the provider's traceback."""

    def __init__(self, method: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{method} failed ({code.name}): {details}")
        self.method = method
        self.code = code
        self.details = details


@dataclass
class Secret:
    """Marks a plain value as secret, the way a secret Output reaches the engine."""

    value: Any


def _wire(value: Any, keep_secrets: bool) -> Any:
    """Turn ``Secret`` markers into wire secrets, or drop them as the engine does for acceptSecrets=False."""
    if isinstance(value, Secret):
        inner = _wire(value.value, keep_secrets)
        return rpc.wrap_rpc_secret(inner) if keep_secrets else inner
    if isinstance(value, Mapping):
        return {k: _wire(v, keep_secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire(v, keep_secrets) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Unwrap wire secrets recursively; responses are compared as plain data."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_LOOPS = threading.local()


def serialize(props: Mapping[str, Any]):
    """``rpc.serialize_properties`` on this thread's private loop (see the module docstring for why)."""
    loop = getattr(_LOOPS, "loop", None)
    if loop is None:
        loop = _LOOPS.loop = asyncio.new_event_loop()
    return loop.run_until_complete(rpc.serialize_properties(dict(props), {}))


def deserialize(struct) -> dict:
    return _plain(rpc.deserialize_properties(struct, keep_unknowns=True))


class ProviderProcess:
    """One ``python -m pulumi.dynamic`` subprocess, started as the engine starts it."""

    def __init__(self, *, project: str = DEFAULT_PROJECT, cwd: Path = ROOT,
                 extra_pythonpath: Iterable[str] = (), env: Optional[Mapping[str, str]] = None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="coldmail-grpc-"))
        self.stderr_path = self._dir / "provider.stderr"
        self.stdout_path = self._dir / "provider.stdout"
        base = dict(os.environ)
        # The test decides which credentials the provider may see; none leak in from the shell.
        for k in [k for k in base if k.startswith("COLDMAIL_MAILCOW_API_KEY")]:
            del base[k]
        base.update(env or {})
        base["PYTHONPATH"] = os.pathsep.join([str(ROOT), *extra_pythonpath])
        base["PULUMI_PROJECT"] = project
        base["PYTHONUNBUFFERED"] = "1"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.dynamic"], cwd=str(cwd), env=base,
                                     stdout=subprocess.PIPE, stderr=self._stderr)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"provider process printed no port: {line!r}; stderr: {self.stderr()[-2000:]}")
        self.port = int(line)
        self._drain = threading.Thread(target=self._copy_stdout, daemon=True)
        self._drain.start()

    def _copy_stdout(self) -> None:
        with open(self.stdout_path, "wb") as out:
            for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
                out.write(chunk)
                out.flush()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


@dataclass
class ResourceState:
    """What the engine keeps in state for one resource after a successful step."""

    id: str
    inputs: dict
    outputs: dict


@dataclass
class StepResult:
    """One engine step for a resource: which RPCs ran and what they returned."""

    op: str  # "create" | "update" | "replace" | "same"
    checked: dict
    diff: Optional[dict] = None
    state: Optional[ResourceState] = None


class ProviderHarness:
    """The engine's side of the ResourceProvider gRPC protocol, with plain dicts in and out.

    Use ``configure`` once, then either the single RPCs (``check``/``diff``/``create``/``read``/``update``/
    ``delete``) or a :class:`DynamicResource` handle that keeps state like the engine and runs whole steps.
    """

    def __init__(self, process: ProviderProcess, *, stack: str = DEFAULT_STACK, project: str = DEFAULT_PROJECT,
                 wire_secrets: str = "engine") -> None:
        if wire_secrets not in ("engine", "keep"):
            raise ValueError("wire_secrets must be 'engine' or 'keep'")
        self.process = process
        self.stack = stack
        self.project = project
        self.wire_secrets = wire_secrets
        self.accept_secrets = False
        self.channel = grpc.insecure_channel(f"127.0.0.1:{process.port}", options=CHANNEL_OPTIONS)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        #: Every serialised ``__provider`` sent, for secret scans.
        self.providers_sent: set[str] = set()
        #: Every deserialised response as ``(method, properties)``, for secret scans. Check echoes
        #: inputs (which the engine stores as secrets); Create/Update/Read are the provider's outputs.
        self.responses: list[tuple[str, dict]] = []

    def close(self) -> None:
        self.channel.close()

    # -- plumbing -----------------------------------------------------------------------------
    def urn(self, type_name: str, name: str) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::pulumi-python:dynamic/coldmail:{type_name}::{name}"

    def _keep(self) -> bool:
        return self.wire_secrets == "keep" or self.accept_secrets

    def _ser(self, props: Mapping[str, Any]):
        props = dict(props)
        provider = props.pop(PROVIDER_KEY, None)
        out = _wire(props, self._keep())
        if provider is not None:
            provider = provider.value if isinstance(provider, Secret) else provider
            self.providers_sent.add(provider)
            out[PROVIDER_KEY] = provider
        return serialize(out)

    def _call(self, method: str, request):
        try:
            return getattr(self.stub, method)(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise ProviderError(method, exc.code(), exc.details() or "") from None

    def _record(self, method: str, props: dict) -> dict:
        self.responses.append((method, props))
        return props

    # -- the RPCs -------------------------------------------------------------------------------
    def configure(self, config: Mapping[str, Any], secret_keys: Iterable[str] = ()) -> None:
        """Send the stack config: keys namespaced (``coldmail:servers``), objects as JSON strings."""
        secret_keys = set(secret_keys)
        args: dict[str, Any] = {}
        variables: dict[str, str] = {}
        for key, value in config.items():
            if ":" not in key:
                key = f"{self.project}:{key}"
            text = value if isinstance(value, str) else json.dumps(value)
            variables[key] = text
            args[key] = rpc.wrap_rpc_secret(text) if key in secret_keys else text
        resp = self._call("Configure", provider_pb2.ConfigureRequest(
            variables=variables, args=serialize(args), acceptSecrets=True, acceptResources=True,
            sends_old_inputs=True, sends_old_inputs_to_delete=True))
        self.accept_secrets = resp.acceptSecrets

    def check(self, urn: str, olds: Mapping, news: Mapping) -> tuple[dict, list[tuple[str, str]]]:
        resp = self._call("Check", provider_pb2.CheckRequest(urn=urn, olds=self._ser(olds), news=self._ser(news),
                                                             name=urn.rsplit("::", 1)[1], type=urn.split("::")[2]))
        return self._record("Check", deserialize(resp.inputs)), [(f.property, f.reason) for f in resp.failures]

    def diff(self, urn: str, id_: str, old_outputs: Mapping, news: Mapping, old_inputs: Mapping = None) -> dict:
        resp = self._call("Diff", provider_pb2.DiffRequest(
            id=id_, urn=urn, olds=self._ser(old_outputs), news=self._ser(news),
            old_inputs=self._ser(old_inputs or {})))
        changes = {provider_pb2.DiffResponse.DIFF_SOME: True, provider_pb2.DiffResponse.DIFF_NONE: False}
        return {"changes": changes.get(resp.changes), "replaces": list(resp.replaces),
                "delete_before_replace": resp.deleteBeforeReplace}

    def create(self, urn: str, props: Mapping) -> tuple[str, dict]:
        resp = self._call("Create", provider_pb2.CreateRequest(urn=urn, properties=self._ser(props), timeout=300))
        return resp.id, self._record("Create", deserialize(resp.properties))

    def read(self, urn: str, id_: str, old_outputs: Mapping, old_inputs: Mapping = None) -> tuple[str, dict, Optional[dict]]:
        resp = self._call("Read", provider_pb2.ReadRequest(id=id_, urn=urn, properties=self._ser(old_outputs),
                                                           inputs=self._ser(old_inputs or {})))
        inputs = deserialize(resp.inputs) if resp.HasField("inputs") else None
        return resp.id, self._record("Read", deserialize(resp.properties)), inputs

    def update(self, urn: str, id_: str, old_outputs: Mapping, news: Mapping, old_inputs: Mapping = None) -> dict:
        resp = self._call("Update", provider_pb2.UpdateRequest(
            id=id_, urn=urn, olds=self._ser(old_outputs), news=self._ser(news),
            old_inputs=self._ser(old_inputs or {}), timeout=300))
        return self._record("Update", deserialize(resp.properties))

    def delete(self, urn: str, id_: str, old_outputs: Mapping, old_inputs: Mapping = None) -> None:
        self._call("Delete", provider_pb2.DeleteRequest(id=id_, urn=urn, properties=self._ser(old_outputs),
                                                        old_inputs=self._ser(old_inputs or {}), timeout=300))

    def resource(self, provider: Any, type_name: str, name: str) -> "DynamicResource":
        return DynamicResource(self, provider, type_name, name)


class DynamicResource:
    """One resource as the engine tracks it: the stored ``__provider``, last inputs, id and outputs.

    ``up(inputs)`` runs the engine's step: Check, then Create (no state) or Diff and, on a change,
    Update or a replace. A failed Create leaves no state (transactional) and a failed Update keeps
    the old state, so calling ``up`` again is exactly the engine's next run.
    """

    def __init__(self, harness: ProviderHarness, provider: Any, type_name: str, name: str) -> None:
        self.h = harness
        self.urn = harness.urn(type_name, name)
        #: What the program stores: ``serialize_provider(ProviderClass())``.
        self.provider_payload = serialize_provider(provider)
        self.state: Optional[ResourceState] = None

    def _with_provider(self, props: Mapping) -> dict:
        return {**props, PROVIDER_KEY: self.provider_payload}

    def check(self, inputs: Mapping) -> dict:
        olds = self.state.inputs if self.state else {}
        checked, failures = self.h.check(self.urn, olds, self._with_provider(inputs))
        if failures:
            raise AssertionError(f"Check failures for {self.urn}: {failures}")
        return checked

    def up(self, inputs: Mapping) -> StepResult:
        checked = self.check(inputs)
        # The engine sends the checked inputs back with their secret markings intact.
        news = _remark(checked, inputs)
        if self.state is None:
            id_, outs = self.h.create(self.urn, news)
            self.state = ResourceState(id_, news, outs)
            return StepResult("create", checked, state=self.state)
        d = self.diff(news)
        if not d["changes"]:
            return StepResult("same", checked, diff=d, state=self.state)
        if d["replaces"]:
            old = self.state
            if d["delete_before_replace"]:
                self.h.delete(self.urn, old.id, old.outputs, old.inputs)
                self.state = None
                id_, outs = self.h.create(self.urn, news)
            else:
                id_, outs = self.h.create(self.urn, news)
                self.h.delete(self.urn, old.id, old.outputs, old.inputs)
            self.state = ResourceState(id_, news, outs)
            return StepResult("replace", checked, diff=d, state=self.state)
        outs = self.h.update(self.urn, self.state.id, self.state.outputs, news, self.state.inputs)
        self.state = ResourceState(self.state.id, news, outs)
        return StepResult("update", checked, diff=d, state=self.state)

    def diff(self, news: Mapping) -> dict:
        return self.h.diff(self.urn, self.state.id, self.state.outputs, news, self.state.inputs)

    def preview(self, inputs: Mapping) -> dict:
        """Check + Diff only, as ``pulumi preview`` (and an unchanged ``up``) does."""
        news = _remark(self.check(inputs), inputs)
        return self.diff(news)

    def refresh(self) -> Optional[ResourceState]:
        """Read; an empty id means the resource is gone and the engine drops it from state."""
        id_, outs, inputs = self.h.read(self.urn, self.state.id, self.state.outputs, self.state.inputs)
        if not id_:
            self.state = None
            return None
        self.state = ResourceState(id_, inputs if inputs is not None else self.state.inputs, outs)
        return self.state

    def destroy(self) -> None:
        if self.state is not None:
            self.h.delete(self.urn, self.state.id, self.state.outputs, self.state.inputs)
            self.state = None


def _remark(checked: Mapping, original: Mapping) -> dict:
    """Re-apply the caller's top-level ``Secret`` markings to checked inputs (the engine tracks secretness)."""
    out = dict(checked)
    for k, v in original.items():
        if isinstance(v, Secret) and k in out:
            out[k] = Secret(out[k])
    return out


class ChainedErrorProvider(ResourceProvider):
    """A provider whose ``create`` fails with a long chained error, to check errors arrive whole."""

    def create(self, props: dict) -> CreateResult:
        size = int(props["size"])
        try:
            raise ValueError("cause:" + "c" * size + ":cause-end")
        except ValueError as exc:
            raise RuntimeError("error:" + "e" * size + ":error-end") from exc


@dataclass
class HarnessSession:
    """A started process plus its harness; what the session/module fixture yields."""

    process: ProviderProcess
    harness: ProviderHarness
    extra: dict = field(default_factory=dict)

    def close(self) -> None:
        self.harness.close()
        self.process.stop()


def start(config: Optional[Mapping[str, Any]] = None, secret_keys: Iterable[str] = (), *,
          wire_secrets: str = "engine", env: Optional[Mapping[str, str]] = None,
          extra_pythonpath: Iterable[str] = ()) -> HarnessSession:
    """Start a provider process, connect, and send ``Configure`` (an empty config if none given)."""
    process = ProviderProcess(env=env, extra_pythonpath=extra_pythonpath)
    harness = ProviderHarness(process, wire_secrets=wire_secrets)
    try:
        harness.configure(config or {}, secret_keys)
    except Exception:
        harness.close()
        process.stop()
        raise
    return HarnessSession(process, harness)
