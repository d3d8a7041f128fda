"""Small raw stack configs for the schema, record and component tests: one server ``mx1`` in the
``ops-example.com`` zone plus whatever domains a test needs. Keys are without the ``coldmail:`` namespace."""

from __future__ import annotations

from typing import Any

OPS_ZONE = "ops-example.com"
HOSTNAME = f"mx1.{OPS_ZONE}"
DMARC_RUA = f"dmarc@{OPS_ZONE}"
ADMIN_CIDR = "203.0.113.0/28"
SSH_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITESTKEYTESTKEYTESTKEY test@example"


def server(floating_ips: int = 2, **extra: Any) -> dict[str, Any]:
    """Server ``mx1`` (``mx1.ops-example.com``) with ``floating_ips`` sending IPs besides its primary."""
    return {"name": "mx1", "hostname": HOSTNAME, "floatingIps": floating_ips, "sshPublicKey": SSH_PUBLIC_KEY,
            "adminCidrs": [ADMIN_CIDR], **extra}


def raw_stack(*domains: dict[str, Any], servers: list[dict[str, Any]] | None = None, **sections: Any) -> dict:
    """A stack of ``domains`` on ``servers`` (default: one :func:`server`), DMARC reports to ``ops-example.com``."""
    return {"servers": servers if servers is not None else [server()], "domains": list(domains),
            "dmarc": {"rua": DMARC_RUA}, **sections}
