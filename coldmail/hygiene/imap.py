"""Reports waiting in a stack mailbox, read over IMAP without changing the mailbox.

Folders are opened read-only (nothing is marked seen, moved or deleted), only ``multipart/report``
messages are fetched, and each one is fetched once: the store remembers (folder, UIDVALIDITY, UID).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Optional

from imapclient.exceptions import IMAPClientError

from coldmail.model import StackConfig
from coldmail.ops import imap
from coldmail.ops.imap import ImapError

from .store import HygieneStore

#: Mailcow files what rspamd calls spam into Junk; a bounce of a spammy message may land there.
FOLDERS = ("INBOX", "Junk")


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


def accounts_from_rows(settings: StackConfig, rows: Iterable[Mapping[str, Any]],
                       server: Optional[str] = None) -> list[Account]:
    """The stack's mailboxes (of one server, or all) with their IMAP logins from credential rows; TLS is
    checked against the server's ``mailcowCaBundle`` when it has one (a self-signed certificate)."""
    servers = {d.name: settings.server(d.server) for d in settings.domains}
    accounts = []
    for row in rows:
        srv = servers.get(str(row["email"]).rpartition("@")[2])
        if srv is None or not row.get("imap_password") or (server and srv.name != server):
            continue
        # ``tls`` is only ever off in a test's login rows (``AgentFile.mail_endpoints``) to a loopback server.
        accounts.append(Account(str(row["imap_username"]), str(row["imap_host"]), int(row["imap_port"]),
                                str(row["imap_password"]), tls=row.get("tls") is not False,
                                ca_file=srv.mailcow_ca_bundle))
    return accounts


def _connect(account: Account, timeout: float) -> Any:
    client = imap.connect(account.host, account.port, "ssl" if account.tls else "plain", ca_file=account.ca_file,
                          timeout=timeout, fix="check the server is up and port 993 is reachable from here")
    return imap.login(client, account.address, account.password, where=f"{account.host}:{account.port}",
                      fix="the password in the stack outputs must be the mailbox's: run `coldmail up`")


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
