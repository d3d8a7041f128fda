"""Where a provider finds a server's Mailcow API key.

Order: the stack config ``coldmail:servers[i].mailcowApiKey`` (the server matched by name, delivered
decrypted to ``configure()``), then ``COLDMAIL_MAILCOW_API_KEY_<SERVER>``, then
``COLDMAIL_MAILCOW_API_KEY``. Keys only ever live in the provider process's memory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from coldmail.model.reader import NAMESPACE, decode

from .errors import MailcowCredentialsError

ENV_PREFIX = "COLDMAIL_MAILCOW_API_KEY"


def env_var_for(server: str) -> str:
    """``COLDMAIL_MAILCOW_API_KEY_MX1`` for server ``mx1`` (upper case, every non-alphanumeric → ``_``)."""
    return f"{ENV_PREFIX}_{re.sub(r'[^A-Z0-9]', '_', server.upper())}"


@dataclass
class ApiKeys:
    """API keys by server name, read from the stack config; ``repr`` never shows a key."""

    _keys: dict[str, str] = field(default_factory=dict, repr=False)
    indexes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Any) -> "ApiKeys":
        """Read ``coldmail:servers`` from a ``pulumi.dynamic.Config`` (or any object with ``.get``)."""
        raw = None
        if config is not None:
            raw = config.get(f"{NAMESPACE}:servers")
        servers = decode(raw)
        keys, indexes = {}, {}
        if isinstance(servers, list):
            for i, s in enumerate(servers):
                if not isinstance(s, Mapping) or not isinstance(s.get("name"), str):
                    continue
                indexes.setdefault(s["name"], i)
                key = s.get("mailcowApiKey")
                if isinstance(key, str) and key.strip():
                    keys.setdefault(s["name"], key.strip())
        return cls(keys, indexes)

    def lookup(self, server: str, env: Optional[Mapping[str, str]] = None) -> str:
        """The key for ``server``; raises :class:`MailcowCredentialsError` naming the command that sets it."""
        env = os.environ if env is None else env
        key = self._keys.get(server) or env.get(env_var_for(server)) or env.get(ENV_PREFIX)
        if key:
            return key
        index = self.indexes.get(server)
        where = f"servers[{index}]" if index is not None else "servers[<i>]"
        raise MailcowCredentialsError(
            f"no Mailcow API key for server {server!r}. Set it with: "
            f"pulumi config set --secret --path 'coldmail:{where}.mailcowApiKey' <key> "
            f"(or export {env_var_for(server)})")
