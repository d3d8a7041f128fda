"""Logging into a mailbox over IMAP: the one connector reports, hygiene and warmup use.

TLS is implicit (``ssl``, port 993) or upgraded (``starttls``, port 143); ``plain`` is refused for any
host but this machine, so no password crosses a network in clear. Errors name the login and the server,
never the password.
"""

from __future__ import annotations

import ssl
from typing import Any, Optional

from coldmail.errors import EXIT_BAD_INPUT, ColdmailError
from coldmail.model.networks import is_loopback

TLS_MODES = ("ssl", "starttls", "plain")
IMAPS_PORT, IMAP_PORT = 993, 143


class ImapError(ColdmailError):
    """An IMAP server could not be reached (``imap_connect``) or refused the login (``imap_login``)."""

    kind = "imap_connect"


def tls_context(ca_file: Optional[str] = None, verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(host: str, port: int, tls: str = "ssl", *, ca_file: Optional[str] = None, verify: bool = True,
            timeout: float = 30.0, fix: str = "check the host and port, that the server is up, and its "
                                                "certificate") -> Any:
    """An ``IMAPClient`` connected (not yet logged in) with the TLS mode asked for.

    :raises ImapError: ``usage`` for an unknown mode or ``plain`` to another machine; ``imap_connect`` when
        the server cannot be reached or TLS fails.
    """
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError

    if tls not in TLS_MODES:
        raise ImapError(f"unknown IMAP TLS mode {tls!r}", f"use one of {', '.join(TLS_MODES)}", kind="usage",
                        exit_code=EXIT_BAD_INPUT)
    if tls == "plain" and not is_loopback(host):
        raise ImapError(f"plain IMAP to {host} would send the password unencrypted",
                        f"use TLS: ssl (port {IMAPS_PORT}) or starttls (port {IMAP_PORT})", kind="usage",
                        exit_code=EXIT_BAD_INPUT)
    try:
        ctx = tls_context(ca_file, verify) if tls != "plain" else None
        client = IMAPClient(host, port=port, ssl=tls == "ssl", ssl_context=ctx, timeout=timeout)
        if tls == "starttls":
            client.starttls(ctx)
    except (OSError, IMAPClientError) as exc:
        raise ImapError(f"cannot reach the IMAP server {host}:{port} ({tls}): {type(exc).__name__}: {exc}",
                        fix) from None
    return client


def login(client: Any, user: str, password: str, *, where: str = "",
          fix: str = "check the user and its password") -> Any:
    """Log ``client`` in as ``user``; on refusal the connection is closed and :class:`ImapError` raised."""
    from imapclient.exceptions import LoginError

    try:
        client.login(user, password)
    except LoginError as exc:
        close(client)
        raise ImapError(f"the IMAP server {where} refused the login of {user}: {exc}".replace("  ", " "), fix,
                        kind="imap_login") from None
    return client


def close(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - the session is over either way
        pass
