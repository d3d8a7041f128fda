"""Everything one check run needs besides the checks themselves, built once by the caller.

The CLI builds it from the stack file (or the decrypted config) and the stack outputs; the on-server
agent from its own config file. Tests point every network endpoint at loopback through the same
fields (the ``nameservers`` of :meth:`CheckContext.create`, ``ports``, ``https_port``, ``relays``,
``mailcow_urls``, ``cafile``, and ``coldmail:checks.outboundProbe``), so what they exercise is the code a
real run executes.
"""

from __future__ import annotations

import datetime as _dt
import os
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from coldmail.model import StackConfig
from coldmail.model.monitoring import ENV_DQS_KEY
from coldmail.ops.history import utcnow

from .resolve import Dns
from .targets import Targets

#: The history's ``source`` of every observation the checks write.
SOURCE = "checks"


@dataclass(frozen=True)
class MailcowKey:
    """Mailcow's DKIM TXT value for a domain, or why it could not be read."""

    txt_value: Optional[str]
    public_key: Optional[str]
    why: Optional[str] = None


@dataclass
class CheckContext:
    """One run's view of the stack and of the network (built by :meth:`create`).

    :param dns: the run's lookups (``--nameserver`` sends every question, authoritative and recursive, to one server).
    :param ports: remaps the standard mail ports (25, 465, 587, 993) to others, e.g. loopback test servers.
    :param relays: ``(server, ip index) -> (host, port)`` of each relay, where it can be reached (the agent
        reaches them on the Mailcow bridge); its greeting names its HELO.
    :param mailcow_urls: server name -> Mailcow API base URL, when not ``https://<hostname>``.
    :param cafile: extra CA certificates to trust for TLS (tests); system CAs otherwise.
    :param env: where secrets come from when the config could not be decrypted.
    """

    stack_name: str
    targets: Targets
    dns: Dns
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    ports: Mapping[int, int] = field(default_factory=dict)
    https_port: int = 443
    relays: Mapping[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    mailcow_urls: Mapping[str, str] = field(default_factory=dict)
    cafile: Optional[str] = None
    now: Callable[[], _dt.datetime] = utcnow
    _keys: dict[str, MailcowKey] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, stack_name: str, stack: StackConfig, outputs: Optional[Mapping[str, Any]] = None, *,
               nameservers: Sequence[tuple[str, int]] = (), resolver: Optional[Sequence[tuple[str, int]]] = None,
               only_server: Optional[str] = None, **kw: Any) -> "CheckContext":
        """A context for ``stack``; ``resolver`` defaults to ``coldmail:checks.resolver`` (else the system's)."""
        dns = Dns(nameservers, stack.checks.resolver if resolver is None else resolver, stack.checks.timeout)
        return cls(stack_name, Targets.build(stack, outputs, only_server), dns, **kw)

    @property
    def stack(self) -> StackConfig:
        return self.targets.stack

    @property
    def timeout(self) -> float:
        return self.stack.checks.timeout

    @property
    def dqs_key(self) -> Optional[str]:
        return self.stack.checks.dqs_key or self.env.get(ENV_DQS_KEY) or None

    def port(self, standard: int) -> int:
        return self.ports.get(standard, standard)

    def tls_context(self, verify: bool = True) -> ssl.SSLContext:
        if not verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        ctx = ssl.create_default_context()
        if self.cafile:
            ctx.load_verify_locations(cafile=self.cafile)
        return ctx

    def mailcow_key(self, domain: str) -> MailcowKey:
        """Mailcow's DKIM key of ``domain`` (read once per run through the Mailcow API)."""
        with self._lock:
            if domain in self._keys:
                return self._keys[domain]
        key = self._read_key(domain)
        with self._lock:
            self._keys[domain] = key
        return key

    def _read_key(self, domain: str) -> MailcowKey:
        from dynamic_providers.client import MailcowClient
        from dynamic_providers.credentials import ENV_PREFIX, env_var_for
        from dynamic_providers.errors import MailcowError

        target = next((d for d in self.targets.domains if d.name == domain), None)
        if target is None:
            return MailcowKey(None, None, f"{domain} is not a domain of this stack")
        server = self.stack.server(target.domain.server)
        api_key = server.api_key or self.env.get(env_var_for(server.name)) or self.env.get(ENV_PREFIX)
        if not api_key:
            return MailcowKey(None, None, f"no Mailcow API key for {server.name} (set {env_var_for(server.name)} "
                                          "or run where the stack config can be decrypted)")
        url = self.mailcow_urls.get(server.name, server.api_url)
        try:
            with MailcowClient(url, api_key, timeout=self.timeout * 2, retries=1, backoff=0,
                               verify=server.mailcow_ca_bundle or server.mailcow_tls_verify) as client:
                key = client.get_dkim(domain)
        except MailcowError as exc:
            return MailcowKey(None, None, f"Mailcow API of {server.name}: {exc}")
        if key is None:
            return MailcowKey(None, None, f"Mailcow has no DKIM key for {domain}")
        return MailcowKey(key.txt_value, key.public_key)
