"""Reading report mailboxes over IMAP: new messages only, read-only, each report stored once.

The folder is opened read-only (``EXAMINE``) and bodies are fetched with ``BODY.PEEK[]``, so a fetch
changes nothing in the mailbox: no ``\\Seen`` flag, no move, no delete; people and other tools can read
the same mailbox. The last UID read is kept per mailbox (with the folder's UIDVALIDITY, which a server
changes when UIDs are reassigned), so the next fetch reads only what arrived since.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass, field
from typing import Any, Optional

from coldmail.model.networks import is_loopback
from coldmail.ops import imap
from coldmail.ops.imap import IMAP_PORT, IMAPS_PORT

from .errors import InsecureImap, NotAReport, ReportsError
from .parse import KINDS, Parser
from .store import ReportStore

#: Messages fetched per IMAP round trip: reports are small, but a zip of a big receiver's day is ~1 MB.
BATCH = 25


@dataclass(frozen=True)
class ImapMailbox:
    """Where one report mailbox is and how to log in; the password never appears in ``repr`` or output."""

    host: str
    user: str
    password: str = field(repr=False)
    port: int = IMAPS_PORT
    tls: str = "ssl"
    """``ssl`` (implicit TLS, port 993), ``starttls`` (port 143 upgraded) or ``plain`` (this machine only)."""
    ca_file: Optional[str] = None
    verify: bool = True
    folder: str = "INBOX"
    address: Optional[str] = None
    """The report address this mailbox receives (``dmarc-reports@…``), for people reading the result."""

    @property
    def key(self) -> str:
        return f"imap://{self.user}@{self.host}:{self.port}/{self.folder}"


@dataclass
class FetchResult:
    """What one fetch of one mailbox did."""

    mailbox: str
    address: Optional[str] = None
    messages: int = 0
    new: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    duplicates: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"mailbox": self.mailbox, "address": self.address, "messages": self.messages, "new": dict(self.new),
                "duplicates": self.duplicates, "skipped": [dict(s) for s in self.skipped]}


def connect(mb: ImapMailbox, *, timeout: float = 30.0) -> Any:
    """A logged-in ``IMAPClient``.

    :raises InsecureImap: ``plain`` to a host other than this machine.
    :raises ImapError: ``imap_connect`` (unreachable, TLS refused) or ``imap_login`` (credentials refused).
    """
    if mb.tls == "plain" and not is_loopback(mb.host):
        raise InsecureImap(f"plain IMAP to {mb.host} would send the password for {mb.user} unencrypted",
                           f"use --imap-tls ssl (port {IMAPS_PORT}) or starttls (port {IMAP_PORT})")
    where = f"{mb.host}:{mb.port} ({mb.tls})"
    client = imap.connect(mb.host, mb.port, mb.tls, ca_file=mb.ca_file, verify=mb.verify, timeout=timeout,
                          fix="check the host and port, that the server is up, and its certificate "
                              "(a private CA: --imap-ca-file)")
    return imap.login(client, mb.user, mb.password, where=where,
                      fix="check the user and its password (the password comes from the stack outputs, "
                          "$COLDMAIL_REPORTS_IMAP_PASSWORD or --password-stdin)")


def _subject(raw: bytes) -> str:
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    return str(headers.get("Subject") or "")[:200]


def fetch(mb: ImapMailbox, store: ReportStore, *, parser: Optional[Parser] = None, rescan: bool = False,
          batch: int = BATCH, timeout: float = 30.0) -> FetchResult:
    """Read the messages that arrived since the last fetch (every message with ``rescan``) and store their reports.

    A message that holds no report is listed in ``skipped`` with the reason and never read again.
    """
    from imapclient.exceptions import IMAPClientError

    parser = parser or Parser()
    result = FetchResult(mb.key, mb.address)
    client = connect(mb, timeout=timeout)
    try:
        try:
            info = client.select_folder(mb.folder, readonly=True)
        except IMAPClientError as exc:
            raise ReportsError(f"cannot open folder {mb.folder!r} of {mb.key}: {exc}",
                               "name an existing folder with --imap-folder (default INBOX)",
                               kind="imap_folder") from None
        validity = int(info.get(b"UIDVALIDITY", 0))
        known_validity, last = store.cursor(mb.key)
        if rescan or known_validity != validity:
            last = 0
        uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"] if last else "ALL") if u > last)
        result.messages = len(uids)
        for start in range(0, len(uids), batch):
            chunk = uids[start:start + batch]
            bodies = client.fetch(chunk, ["BODY.PEEK[]"])
            reports = []
            for uid in chunk:
                raw = (bodies.get(uid) or {}).get(b"BODY[]")
                if raw is None:
                    result.skipped.append({"uid": uid, "subject": "", "reason": "the server returned no body"})
                    continue
                try:
                    reports.append(parser.parse(raw))
                except NotAReport as exc:
                    result.skipped.append({"uid": uid, "subject": _subject(raw), "reason": exc.message})
            for report, new in zip(reports, store.add_all(reports, mailbox=mb.key, cursor=(validity, chunk[-1]))):
                if new:
                    result.new[report.kind] += 1
                else:
                    result.duplicates += 1
    finally:
        imap.close(client)
    return result
