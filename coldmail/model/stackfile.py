"""Where raw config comes from: a ``Pulumi.<stack>.yaml`` file, or the running program's config."""

from __future__ import annotations

from typing import Any, Mapping

from .reader import NAMESPACE, decode, is_secure
from .secrets import is_secret_name

#: Every top-level ``coldmail:*`` key the schema reads.
TOP_LEVEL_KEYS = ("servers", "domains", "dmarc", "dkim", "warmup", "dns", "limits", "rollout", "names",
                  "sshPrivateKey", "reports", "backup", "checks")


#: Keys that are secret although their names do not say so (an S3 key id is half of a credential).
_SECRET_KEYS = ("accessKeyId",)


def public_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``coldmail:*`` config without a single secret, in a stack file's shape (``{"config": {…}}``).

    What a backup keeps beside Mailcow's data, so the stack can be re-created from it; secrets are set
    again with ``pulumi config set --secret``. Secret-named keys and encrypted values are left out.
    """
    def scrub(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: scrub(v) for k, v in value.items()
                    if not (is_secret_name(k) or k in _SECRET_KEYS or is_secure(v))}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return {"config": {f"{NAMESPACE}:{k}": v for k, v in scrub(dict(raw)).items()}}


def read_stack_file(path: str) -> dict[str, Any]:
    """Every ``ns:key`` of a stack file; encrypted values stay ``{"secure": …}``.

    :raises OSError: the file cannot be read.
    :raises yaml.YAMLError: it is not YAML.
    :raises ValueError: its ``config`` is not a mapping of keys to values.
    """
    import yaml

    # libyaml's loader when present: a 170-domain stack file parses ten times faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=loader) or {}
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path} must be a YAML mapping with a `config:` section, got {type(doc).__name__}")
    config = doc.get("config") or {}
    if not isinstance(config, Mapping):
        raise ValueError(f"`config:` in {path} must be a mapping of `namespace:key: value`, "
                         f"got {type(config).__name__}")
    return dict(config)


def namespaced(config: Mapping[str, Any], project: str = NAMESPACE) -> dict[str, Any]:
    """The ``<project>:*`` keys of a stack config without their namespace, structured values decoded."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        ns, _, name = str(key).partition(":")
        if ns == project and name:
            out[name] = decode(getattr(value, "value", value))
    return out


def raw_from_stack_file(path: str, project: str = NAMESPACE) -> dict[str, Any]:
    """The ``coldmail:*`` keys of a ``Pulumi.<stack>.yaml``. Encrypted values stay ``{"secure": …}``."""
    return namespaced(read_stack_file(path), project)


def raw_from_pulumi(project: str = NAMESPACE) -> dict[str, Any]:
    """The ``coldmail:*`` keys of the running stack, decoded (secrets in clear: handle with care)."""
    import pulumi

    cfg = pulumi.Config(project)
    return {k: decode(cfg.get(k)) for k in TOP_LEVEL_KEYS if cfg.get(k) is not None}
