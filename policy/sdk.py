"""Reading what the engine hands a rule: proxies, unknowns, secrets and the pack config.

Only values known at preview time are judged: an unknown (a cloud-assigned IP, an ID) is skipped, never
reported, so a first preview of a new stack is quiet and the next one judges the real values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from pulumi_policy import PolicyConfigSchema, Secret
from pulumi_policy import proxy as _proxy

from coldmail.model.records import txt_value


class _Unknown:
    """A value that is computed during the update and so cannot be judged at preview."""

    _instance: Optional["_Unknown"] = None

    def __new__(cls) -> "_Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()
_UNKNOWN_SENTINELS = frozenset((
    _proxy.UNKNOWN_BOOLEAN_VALUE, _proxy.UNKNOWN_NUMBER_VALUE, _proxy.UNKNOWN_STRING_VALUE,
    _proxy.UNKNOWN_ARRAY_VALUE, _proxy.UNKNOWN_ASSET_VALUE, _proxy.UNKNOWN_ARCHIVE_VALUE,
    _proxy.UNKNOWN_OBJECT_VALUE))


def _get(container: Any, key: Any) -> Any:
    # The SDK's proxies raise on reading an unknown, and the SDK turns an escaped UnknownValueError
    # into a "can't run policy" warning on every preview; reading through this keeps rules quiet.
    try:
        return container[key]
    except _proxy.UnknownValueError:
        return UNKNOWN


def plain(value: Any, reveal: bool = True) -> Any:
    """``value`` as plain dicts and lists, unknowns as :data:`UNKNOWN`.

    Secrets are unwrapped when ``reveal`` is true, else kept as :class:`pulumi_policy.Secret`.
    """
    if isinstance(value, Secret):
        inner = plain(value.value, reveal)
        return inner if reveal else Secret(inner)
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {k: plain(_get(value, k), reveal) for k in list(value)}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [plain(_get(value, i), reveal) for i in range(len(value))]
    return value


def known(*values: Any) -> bool:
    """True when no value is missing or unknown."""
    return all(v is not None and v is not UNKNOWN for v in values)


def keep_secret_markers() -> None:
    """Make the SDK hand secret inputs to rules as :class:`pulumi_policy.Secret` instead of in clear.

    The engine sends secrets marked (``KeepSecrets``), but pulumi-policy 1.21's ``Analyze`` and
    ``AnalyzeStack`` strip the marker, so a rule cannot tell a secret password from a clear one.
    ``policy/__main__.py`` calls this before it serves the pack; every rule unwraps secrets it judges.
    """
    from pulumi_policy import deserialize as sdk_deserialize
    from pulumi_policy import policy as sdk_policy

    current = sdk_policy.deserialize_properties
    if getattr(current, "keeps_secret_markers", False):
        return

    def convert(prop: Any) -> Any:
        if isinstance(prop, list):
            return [convert(e) for e in prop]
        if isinstance(prop, dict):
            if prop.get(sdk_deserialize.SPECIAL_SIG_KEY) == sdk_deserialize.SPECIAL_SECRET_SIG:
                return Secret(convert(prop.get("value")))
            if sdk_deserialize.SPECIAL_SIG_KEY in prop:
                return sdk_deserialize._deserialize_property(prop)  # assets and archives
            return {k: convert(v) for k, v in prop.items()}
        return prop

    def deserialize_properties(props: dict, proxy_secrets: bool = False) -> dict:
        if proxy_secrets:  # remediation keeps the SDK's own secret-preserving proxies
            return current(props, True)
        return {k: convert(v) for k, v in props.items()}

    deserialize_properties.keeps_secret_markers = True  # type: ignore[attr-defined]
    sdk_policy.deserialize_properties = deserialize_properties


def config_value(args: Any, key: str, default: Any) -> Any:
    """``key`` of the policy's ``--policy-pack-config`` entry, or ``default`` when it is unset."""
    value = (args.get_config() or {}).get(key)
    return default if value is None else value


def config_schema(**props: dict) -> PolicyConfigSchema:
    """The config a policy accepts, one JSON-schema property per keyword."""
    return PolicyConfigSchema(properties=props)


def fqdn(name: Any) -> str:
    """A DNS name as the rules compare them: lowercase, no trailing dot; ``""`` when not a string."""
    return str(name).strip().rstrip(".").lower() if isinstance(name, str) else ""


def txt_of(props: Mapping[str, Any]) -> Optional[str]:
    """The joined TXT value of a Cloudflare record's plain props, or None when it is no TXT or not known yet."""
    if str(props.get("type", "")).upper() != "TXT":
        return None
    content = props.get("content")
    return txt_value(content) if isinstance(content, str) else None
