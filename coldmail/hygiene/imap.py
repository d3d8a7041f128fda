"""Reports waiting in a stack mailbox, read over IMAP without changing the mailbox.

Folders are opened read-only (nothing is marked seen, moved or deleted), only ``multipart/report``
messages are fetched, and each one is fetched once: the store remembers (folder, UIDVALIDITY, UID).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Iterator, Optional

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from coldmail.errors import ColdmailError

from .store import HygieneStore

#: Mailcow files what rspamd calls spam into Junk; a bounce of a spammy message may land there.
FOLDERS = ("INBOX", "Junk")


class ImapError(ColdmailError):
    kind = "imap"


@dataclass(frozen=True)
class Account:
    """One stack mailbox as IMAP reaches it."""

    address: str
    host: str
    port: int
    password: str = field(repr=False)
    tls: bool = True
    """Implicit TLS (port 993). False only for a test server on loopback."""
    ca_file: Optional[str] = None
    """Trust this CA bundle instead of the system's (``mailcowCaBundle``: a self-signed certificate)."""


@dataclass(frozen=True)
class Fetched:
    folder: str
    uidvalidity: int
    uid: int
    raw: bytes


def _connect(account: Account, timeout: float) -> IMAPClient:
    context = None
    if account.tls:
        context = ssl.create_default_context(cafile=account.ca_file)
    try:
        client = IMAPClient(account.host, port=account.port, ssl=account.tls, ssl_context=context, timeout=timeout)
    except (OSError, IMAPClientError) as exc:
        raise ImapError(f"cannot reach IMAP at {account.host}:{account.port} for {account.address}: {exc}",
                        "check the server is up and port 993 is reachable from here") from None
    try:
        client.login(account.address, account.password)
    except LoginError:
        client.shutdown()
        raise ImapError(f"IMAP login as {account.address} failed",
                        "the password in the stack outputs must be the mailbox's: run `coldmail up`") from None
    return client


def new_reports(account: Account, store: HygieneStore, *, timeout: float = 30) -> Iterator[Fetched]:
    """Every report in the account's folders that no earlier scan fetched.

    The caller marks each one seen (``store.mark_seen``) once it has been stored, so a scan that fails
    half-way fetches the rest next time.
    """
    client = _connect(account, timeout)
    try:
        existing = {name for _, _, name in client.list_folders()}
        for folder in (f for f in FOLDERS if f in existing):
            info = client.select_folder(folder, readonly=True)
            uidvalidity = int(info[b"UIDVALIDITY"])
            uids = [u for u in client.search(["HEADER", "Content-Type", "report"])
                    if not store.seen(account.address, folder, uidvalidity, u)]
            for uid, data in sorted(client.fetch(uids, ["BODY.PEEK[]"]).items()) if uids else ():
                yield Fetched(folder, uidvalidity, uid, data[b"BODY[]"])
    finally:
        try:
            client.logout()
        except (OSError, IMAPClientError):
            client.shutdown()
