"""The on-server agent's own config file: rendered by the program, read by ``coldmail agent run``.

One JSON document per server, uploaded into the agent's container. It holds what the agent cannot
learn on the server itself: the stack's ``coldmail:*`` config (only this server's Mailcow API key; the
SSH private key never leaves the machine running ``pulumi up``), the stack outputs as far as they concern
this server (``servers``: the addresses Hetzner assigned; ``domains``: its domains' summaries;
``credentials``: its mailboxes' logins, for the warmup), where each relay listens, the resolver, and where
the host's backup tree is mounted. It contains secrets, so the program passes it as a secret and the
container keeps it readable by root only.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from .monitoring import parse_nameserver

VERSION = 1
#: Where the container finds its config file and keeps the history (a named volume).
CONFIG_PATH = "/etc/coldmail/agent.json"
DATA_DIR = "/data"
#: Mailcow's own unbound on its bridge network (``IPV4_NETWORK`` .254): a local recursive resolver,
#: which Spamhaus answers (it refuses public and provider resolvers).
MAILCOW_UNBOUND = "172.22.1.254"
#: Where the container sees the host's backup settings, state and restore points (read-only bind mounts):
#: ``backup.sh`` prefixes every path with ``ROOT``, so ``ROOT=/host backup.sh list`` lists the host's backups.
HOST_ROOT = "/host"
#: The keys of a mailbox login row (``coldmail.ops.credentials``) that :attr:`AgentFile.mail_endpoints` may set.
MAIL_ENDPOINT_KEYS = ("smtp_host", "smtp_port", "imap_host", "imap_port", "tls")


@dataclass(frozen=True)
class AgentFile:
    stack: str
    server: str
    config: Mapping[str, Any] = field(repr=False)
    """The raw ``coldmail:*`` config, secrets in clear: handle with care."""
    outputs: Mapping[str, Any]
    relays: Mapping[int, tuple[str, int]]
    resolver: tuple[tuple[str, int], ...]
    nameservers: tuple[tuple[str, int], ...] = ()
    """Replaces every DNS server, authoritative ones included (``--nameserver``; tests)."""
    mailcow_url: Optional[str] = None
    data_dir: str = DATA_DIR
    host_root: Optional[str] = None
    """Where the host's ``/opt/coldmail`` and backup location are mounted; None: not mounted, no backup job."""
    mail_endpoints: Mapping[str, Any] = field(default_factory=dict)
    """Replaces these keys (:data:`MAIL_ENDPOINT_KEYS`) of every mailbox login: where the agent reaches
    submission and IMAP when not as the logins say (tests: a plain loopback lab)."""

    @property
    def history(self) -> str:
        return f"{self.data_dir.rstrip('/')}/history.sqlite"

    @property
    def site_dir(self) -> str:
        return f"{self.data_dir.rstrip('/')}/site"


def agent_config(raw: Mapping[str, Any], server: str) -> dict[str, Any]:
    """``raw`` without the SSH private key and without every other server's Mailcow API key."""
    out = {k: copy.deepcopy(v) for k, v in raw.items() if k != "sshPrivateKey"}
    for s in out.get("servers") or []:
        if isinstance(s, dict) and s.get("name") != server:
            s.pop("mailcowApiKey", None)
    return out


def _mail_endpoints(value: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    unknown = sorted(set(value or {}) - set(MAIL_ENDPOINT_KEYS))
    if unknown:
        raise ValueError(f"mail_endpoints may set {', '.join(MAIL_ENDPOINT_KEYS)}, not {', '.join(unknown)}")
    return dict(value or {})


def render(*, stack: str, server: str, raw: Mapping[str, Any], outputs: Mapping[str, Any],
           relays: Mapping[int, str], resolver: Sequence[str] = (MAILCOW_UNBOUND,), mailcow_url: Optional[str] = None,
           data_dir: str = DATA_DIR, nameservers: Sequence[str] = (), host_root: Optional[str] = None,
           mail_endpoints: Optional[Mapping[str, Any]] = None) -> str:
    """The agent file as JSON text. ``relays`` maps sending-IP index to ``host:port``; ``outputs`` are the
    stack outputs (``servers``, ``domains``, ``credentials``) limited to this server."""
    doc = {"version": VERSION, "stack": stack, "server": server, "config": agent_config(raw, server),
           "outputs": dict(outputs), "relays": {str(k): v for k, v in sorted(relays.items())},
           "resolver": list(resolver), "nameservers": list(nameservers), "mailcow_url": mailcow_url,
           "data_dir": data_dir, "host_root": host_root, "mail_endpoints": _mail_endpoints(mail_endpoints)}
    return json.dumps(doc, indent=2, sort_keys=True)


def parse(text: str) -> AgentFile:
    """:raises ValueError: naming what is wrong with the document."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the agent file is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise ValueError(f"the agent file must be a version {VERSION} document; re-run `pulumi up` to render it")
    missing = [k for k in ("stack", "server", "config") if not doc.get(k)]
    if missing:
        raise ValueError(f"the agent file lacks {', '.join(missing)}")
    relays = {}
    for k, v in (doc.get("relays") or {}).items():
        host, _, port = str(v).rpartition(":")
        relays[int(k)] = (host.strip("[]"), int(port))
    return AgentFile(stack=str(doc["stack"]), server=str(doc["server"]), config=doc["config"],
                     outputs=doc.get("outputs") or {}, relays=relays,
                     resolver=tuple(parse_nameserver(r) for r in doc.get("resolver") or ()),
                     nameservers=tuple(parse_nameserver(r) for r in doc.get("nameservers") or ()),
                     mailcow_url=doc.get("mailcow_url"), data_dir=str(doc.get("data_dir") or DATA_DIR),
                     host_root=doc.get("host_root"),
                     mail_endpoints=_mail_endpoints(doc.get("mail_endpoints")))


def read(path: str) -> AgentFile:
    """:raises OSError: unreadable; :raises ValueError: not an agent file."""
    with open(path, encoding="utf-8") as fh:
        return parse(fh.read())
