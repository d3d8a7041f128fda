"""What counts as a secret: by its name, and the stack-config keys that hold a credential.

The credentials a real run reads from the stack config are the provider tokens, the SSH private key and
one Mailcow API key per server. Each is addressed by its config path (``coldmail:servers[0].mailcowApiKey``)
and set encrypted with the command :func:`set_secret_command` gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from .reader import decode, is_secure

#: A key naming a credential: masked in output, refused in clear by the policy pack.
SECRET_NAME = re.compile(r"api[_-]?key|password|passwd|token|secret|private[_-]?key", re.IGNORECASE)

HCLOUD_TOKEN = "hcloud:token"
CLOUDFLARE_TOKEN = "cloudflare:apiToken"
SSH_PRIVATE_KEY = "coldmail:sshPrivateKey"
SERVERS = "coldmail:servers"
BACKUP = "coldmail:backup"
#: The off-site backup's credentials, under ``coldmail:backup.offsite``.
OFFSITE_SECRETS = ("password", "accessKeyId", "secretAccessKey")
_SERVER_KEY = re.compile(r"(coldmail:servers)\[(\d+)\]\.(\w+)")
_OFFSITE_KEY = re.compile(r"(coldmail:backup)\.offsite\.(\w+)")


def is_secret_name(key: object) -> bool:
    return bool(SECRET_NAME.search(str(key)))


def redact(value: Any) -> Any:
    """``value`` with the value of every secret-named key masked, at any depth.

    Flags stay (``"secret": false`` says what an edit wrote, and is no secret), as do empty values.
    """
    if isinstance(value, Mapping):
        return {k: "[secret]" if is_secret_name(k) and v is not None and not isinstance(v, bool) else redact(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def offsite(backup: Any) -> Optional[Mapping[str, Any]]:
    """The decoded ``coldmail:backup`` value's off-site section, when the stack has one."""
    section = backup.get("offsite") if isinstance(backup, Mapping) else None
    return section if isinstance(section, Mapping) else None


def secret_paths(servers: Any, backup: Any = None) -> list[str]:
    """The config path of every credential a real run needs, for the decoded ``coldmail:servers`` list
    and ``coldmail:backup`` section."""
    paths = [HCLOUD_TOKEN, CLOUDFLARE_TOKEN, SSH_PRIVATE_KEY]
    paths += [f"{SERVERS}[{i}].mailcowApiKey" for i, _ in enumerate(servers if isinstance(servers, list) else [])]
    if offsite(backup) is not None:
        paths += [f"{BACKUP}.offsite.{k}" for k in OFFSITE_SECRETS]
    return paths


def config_key(path: str) -> str:
    """The stack-config key a path lives in: ``coldmail:servers[0].mailcowApiKey`` is in ``coldmail:servers``."""
    ns, _, rest = path.partition(":")
    key = re.split(r"[.\[]", rest, maxsplit=1)[0]
    return f"{ns}:{key}"


def set_secret_command(path: str, stack: Optional[str] = None) -> str:
    """The exact line that stores the credential at ``path`` encrypted in ``Pulumi.<stack>.yaml``."""
    pre = "pulumi config set" + (f" --stack {stack}" if stack else "") + " --secret"
    if path == HCLOUD_TOKEN:
        return f"{pre} {path}   # paste the Hetzner Cloud API token (read & write) at the prompt"
    if path == CLOUDFLARE_TOKEN:
        return f"{pre} {path}   # paste a Cloudflare token with Zone.DNS edit + Zone read"
    if path == SSH_PRIVATE_KEY:
        return f"{pre} {path} < ~/.ssh/coldmail_ed25519"
    if _OFFSITE_KEY.fullmatch(path):
        return f"{pre} --path '{path}'   # paste the value at the prompt"
    # Piped, so the generated key never stands on a command line.
    return f"openssl rand -hex 24 | {pre} --path '{path}'"


@dataclass(frozen=True)
class SecretSpec:
    key: str
    command: str


def secret_specs(stack: str, servers: Any, backup: Any = None) -> list[SecretSpec]:
    """Every secret a real run needs, with the exact line that sets it."""
    return [SecretSpec(p, set_secret_command(p, stack)) for p in secret_paths(servers, backup)]


def secret_value(get: Callable[[str], Any], path: str) -> Any:
    """The value at a credential's ``path``, reading config keys with ``get``; None when it is not set."""
    o = _OFFSITE_KEY.fullmatch(path)
    if o:
        return (offsite(decode(get(o.group(1)))) or {}).get(o.group(2))
    m = _SERVER_KEY.fullmatch(path)
    if not m:
        return get(path)
    servers, index = decode(get(m.group(1))), int(m.group(2))
    if isinstance(servers, list) and index < len(servers) and isinstance(servers[index], Mapping):
        return servers[index].get(m.group(3))
    return None


def plaintext_secrets(get: Callable[[str], Any],
                      is_secret_key: Optional[Callable[[str], bool]] = None) -> tuple[str, ...]:
    """The paths of the credentials that are set in clear: neither encrypted in the stack file
    (``{"secure": …}``) nor under a key ``is_secret_key`` says was given with ``--secret``.

    ``get`` reads a config key's value: a stack file's mapping's ``get``, or in the program
    ``pulumi.runtime.get_config`` with ``pulumi.runtime.is_config_secret`` as ``is_secret_key``.
    Returns paths only, never a value.
    """
    out = []
    for path in secret_paths(decode(get(SERVERS)), decode(get(BACKUP))):
        value = secret_value(get, path)
        if value in (None, "") or is_secure(value) or (is_secret_key is not None and is_secret_key(config_key(path))):
            continue
        out.append(path)
    return tuple(out)
