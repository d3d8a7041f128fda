"""Shared plumbing for the Mailcow dynamic resources and their providers."""

from __future__ import annotations

import contextlib
import pickle
import threading
from typing import Any, ClassVar, ContextManager, Iterable, Mapping, Optional

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CheckFailure, ConfigureRequest, ResourceProvider
from pulumi.runtime import rpc

from coldmail.model.names import normalise_domain

from .client import MailcowClient
from .credentials import ApiKeys

# The SDK's serialize_provider wraps this method once per dynamic resource and never unwraps it, so
# a program dies with RecursionError after ~980 dynamic resources (docs/platform-notes.md §1). Captured at import,
# before any dynamic resource exists.
_ORIGINAL_BATCH_SETITEMS = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]

#: Clients by connection, shared by the provider process's threads: a step reuses the connections of
#: the steps before it instead of opening its own.
_CLIENTS: dict[tuple, MailcowClient] = {}
_CLIENTS_LOCK = threading.Lock()

PROVIDER_KEY = "__provider"
CONNECTION_KEYS = ("api_url", "server", "verify_tls", "ca_bundle")
UNKNOWN = rpc.UNKNOWN



class SafeResource(pulumi.dynamic.Resource):
    """A ``pulumi.dynamic.Resource`` that survives any number of instances in one process."""

    def __init__(self, provider: ResourceProvider, name: str, props: Mapping[str, Any],
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        pickle._Pickler._batch_setitems = _ORIGINAL_BATCH_SETITEMS  # type: ignore[attr-defined]
        super().__init__(provider, name, dict(props), opts)


def connection_props(args: Any) -> dict[str, Any]:
    """The four connection inputs every Mailcow resource takes, from its Args dataclass."""
    return {"api_url": args.api_url, "server": args.server, "verify_tls": args.verify_tls,
            "ca_bundle": args.ca_bundle}


def plain(value: Any) -> Any:
    """Inputs with every wire-secret wrapper removed (the engine may or may not strip them)."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def is_unknown(value: Any) -> bool:
    """True if the value, or anything inside it, is not known yet (a preview of a new dependency)."""
    if isinstance(value, str):
        return value == UNKNOWN
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_unknown(v) for v in value)
    return False


class Inputs:
    """Reads and normalises one input bag for ``check()``, collecting ``CheckFailure``s."""

    def __init__(self, news: Mapping[str, Any]):
        self.raw = plain(dict(news))
        self.raw.pop(PROVIDER_KEY, None)
        self.out: dict[str, Any] = dict(self.raw)
        self.failures: list[CheckFailure] = []

    def fail(self, prop: str, reason: str) -> None:
        self.failures.append(CheckFailure(prop, reason))

    def unknown(self, key: str) -> bool:
        return is_unknown(self.raw.get(key))

    def string(self, key: str, *, required: bool = True, default: Optional[str] = None) -> Optional[str]:
        v = self.raw.get(key)
        if is_unknown(v):
            return v
        if v is None or v == "":
            if required and default is None:
                self.fail(key, "is required")
            self.out[key] = default
            return default
        if not isinstance(v, str):
            self.fail(key, f"must be a string, got {v!r}")
            return default
        self.out[key] = v
        return v

    def integer(self, key: str, default: Optional[int] = None, lo: Optional[int] = None,
                why: str = "") -> Optional[int]:
        v = self.raw.get(key)
        if is_unknown(v):
            return None
        if v is None:
            if default is None:
                self.fail(key, "is required")
            self.out[key] = default
            return default
        # The engine delivers every number as a float.
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
            self.fail(key, f"must be a whole number, got {v!r}")
            return default
        n = int(v)
        if lo is not None and n < lo:
            self.fail(key, f"must be at least {lo}, got {n}" + (f" ({why})" if why else ""))
        self.out[key] = n
        return n

    def boolean(self, key: str, default: bool) -> bool:
        v = self.raw.get(key)
        if is_unknown(v):
            return default
        if v is None:
            self.out[key] = default
            return default
        if not isinstance(v, bool):
            self.fail(key, f"must be true or false, got {v!r}")
            return default
        return v

    def connection(self) -> None:
        url = self.string("api_url")
        if isinstance(url, str) and url != UNKNOWN:
            if not url.startswith("https://") and not url.startswith("http://127.0.0.1") \
                    and not url.startswith("http://localhost"):
                self.fail("api_url", f"must start with https:// (Mailcow redirects http and a redirected POST "
                                     f"becomes a GET), got {url!r}")
            self.out["api_url"] = url.rstrip("/")
        self.string("server")
        self.boolean("verify_tls", True)
        bundle = self.raw.get("ca_bundle")
        if bundle is not None and not is_unknown(bundle) and not isinstance(bundle, str):
            self.fail("ca_bundle", f"must be a file path, got {bundle!r}")
        self.out["ca_bundle"] = bundle or None

    def domain(self, key: str = "domain") -> Optional[str]:
        v = self.string(key)
        if not isinstance(v, str) or v == UNKNOWN:
            return v
        try:
            d = normalise_domain(v)
        except ValueError as exc:
            self.fail(key, f"{v!r} is not a valid domain name: {exc}")
            return None
        self.out[key] = d
        return d


def changed_keys(olds: Mapping[str, Any], news: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """Keys whose new value differs from the old output, or is not known yet."""
    out = []
    for k in keys:
        new = news.get(k)
        if is_unknown(new) or new != olds.get(k):
            out.append(k)
    return out


class MailcowProvider(ResourceProvider):
    """Base for the Mailcow providers: API keys from ``configure()``, one client per call.

    Nothing secret is ever set in ``__init__``: the instance is dill-pickled into state by the program,
    while ``configure()`` only runs later, in the provider process.
    """

    #: Extra keyword arguments for :class:`MailcowClient` (tests shorten the backoff). Never a key.
    client_options: ClassVar[dict[str, Any]] = {}

    def configure(self, req: ConfigureRequest) -> None:
        self._api_keys = ApiKeys.from_config(req.config)

    def shared_client(self, props: Mapping[str, Any]) -> MailcowClient:
        """The process's client for the Mailcow in ``props``: it keeps no cookies and is thread-safe."""
        keys: ApiKeys = getattr(self, "_api_keys", None) or ApiKeys()
        verify: Any = props.get("ca_bundle") or bool(props.get("verify_tls", True))
        api_key = keys.lookup(str(props["server"]))
        ident = (str(props["api_url"]), api_key, verify, tuple(sorted(self.client_options.items())))
        with _CLIENTS_LOCK:
            if ident not in _CLIENTS:
                _CLIENTS[ident] = MailcowClient(ident[0], api_key, verify=verify, **self.client_options)
            return _CLIENTS[ident]

    def client(self, props: Mapping[str, Any]) -> ContextManager[MailcowClient]:
        """``with self.client(props) as c``: the shared client, left open for the next step."""
        return contextlib.nullcontext(self.shared_client(props))

    @staticmethod
    def state(props: Mapping[str, Any]) -> dict[str, Any]:
        """Inputs as they go into outputs: plain, without the provider payload."""
        out = plain(dict(props))
        out.pop(PROVIDER_KEY, None)
        return out
