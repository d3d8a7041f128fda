"""Logging into a mailbox: SMTP submission to send, IMAP to find warmup mail and act on it.

Every connection is TLS (implicit on 465 and 993, STARTTLS elsewhere) unless the account says
``tls=False``, which is accepted for a loopback host only, so no password ever crosses a network in
clear. Errors name the account and the server, never the password.
"""

from __future__ import annotations

import datetime as _dt
import email.parser
import email.policy
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Callable, Optional

from coldmail.errors import ColdmailError
from coldmail.model.networks import is_loopback
from coldmail.ops import imap

from .store import INBOX, PROMOTIONS, SPAM

MAILBOX, SEED = "mailbox", "seed"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool = True

    def __post_init__(self) -> None:
        if not self.tls and not is_loopback(self.host):
            raise ValueError(f"plain IMAP/SMTP to {self.host} would expose a password; only loopback hosts may "
                             "skip TLS")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Account:
    """A mailbox the worker logs into: one of the stack's (``mailbox``) or a seed the user owns (``seed``).

    ``ip`` is the sending IP's label (``mx1/ip1``) for stack mailboxes; ``max_per_day`` caps a seed's
    sends and receipts; ``spam_folder`` None means the folder IMAP marks ``\\Junk``.
    """

    address: str
    name: str
    kind: str
    smtp: Endpoint
    imap: Endpoint
    provider: str = "mailcow"
    server: Optional[str] = None
    ip: Optional[str] = None
    timezone: str = "UTC"
    spam_folder: Optional[str] = None
    promotions_folder: Optional[str] = None
    max_per_day: int = 0
    password: str = field(default="", repr=False, compare=False)

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0] if self.name else self.address.split("@", 1)[0].split(".", 1)[0].title()


class TransportError(ColdmailError):
    """A mailbox could not be reached or logged into; nothing was sent through it."""

    kind = "warmup_transport"


def _refused(protocol: str, account: Account, endpoint: Endpoint, detail: str = "") -> TransportError:
    return TransportError(f"{protocol} login of {account.address} at {endpoint} refused{detail}",
                          "check the mailbox's password (coldmail credentials export) or the seed's app password")


def _unreachable(protocol: str, account: Account, endpoint: Endpoint, exc: BaseException) -> TransportError:
    return TransportError(f"{protocol} of {account.address} at {endpoint} unreachable: {type(exc).__name__}: {exc}",
                          "check the host and port; the worker retries on its next run")


class Refused(Exception):
    """The server refused the message (it was not sent): ``code`` is the SMTP reply code."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500


class Uncertain(Exception):
    """The connection broke while the message was on its way: it may have been sent."""


class SmtpSession:
    """An authenticated SMTP submission session; use as a context manager, then :meth:`send`."""

    def __init__(self, account: Account, timeout: float = 30) -> None:
        self.account, self.timeout = account, timeout
        self._smtp: Optional[smtplib.SMTP] = None

    def __enter__(self) -> "SmtpSession":
        ep, a = self.account.smtp, self.account
        helo = a.address.rpartition("@")[2]
        try:
            if ep.tls and ep.port == 465:
                self._smtp = smtplib.SMTP_SSL(ep.host, ep.port, local_hostname=helo, timeout=self.timeout,
                                              context=imap.tls_context())
            else:
                self._smtp = smtplib.SMTP(ep.host, ep.port, local_hostname=helo, timeout=self.timeout)
                if ep.tls:
                    self._smtp.starttls(context=imap.tls_context())
            self._smtp.login(a.address, a.password)
        except smtplib.SMTPAuthenticationError as exc:
            self._close()
            raise _refused("SMTP", a, ep, f" ({exc.smtp_code})") from None
        except (OSError, smtplib.SMTPException) as exc:
            self._close()
            raise _unreachable("SMTP", a, ep, exc) from None
        return self

    def send(self, msg: EmailMessage) -> None:
        """Submit ``msg``; raises :class:`Refused` (not sent) or :class:`Uncertain` (maybe sent)."""
        assert self._smtp is not None, "use SmtpSession as a context manager"
        try:
            self._smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise Refused(code, text.decode(errors="replace") if isinstance(text, bytes) else str(text)) from None
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            raise Refused(exc.smtp_code, text) from None
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise Uncertain(f"{type(exc).__name__}: {exc}") from None

    def _close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def __exit__(self, *exc: Any) -> None:
        self._close()


@dataclass(frozen=True)
class Found:
    """A warmup message in a recipient's mailbox: where it was when first seen, and its headers."""

    folder: str
    uid: int
    token: str
    placement: str
    message_id: str
    subject: str
    sender: str
    references: str


def _imap_client(ep: Endpoint, timeout: float) -> Any:
    mode = ("ssl" if ep.port == imap.IMAPS_PORT else "starttls") if ep.tls else "plain"
    return imap.connect(ep.host, ep.port, mode, timeout=timeout)


class ImapSession:
    """An IMAP session that finds warmup mail by its header and moves it where a person would.

    :param client_factory: ``(endpoint, timeout) -> IMAPClient``; the default connects for real.
    """

    #: Gmail shows its tabs to IMAP only through its own search extension.
    GMAIL_PROMOTIONS = "category:promotions newer_than:7d"

    def __init__(self, account: Account, timeout: float = 30,
                 client_factory: Callable[[Endpoint, float], Any] = _imap_client) -> None:
        self.account, self.timeout, self._factory = account, timeout, client_factory
        self._c: Any = None

    def __enter__(self) -> "ImapSession":
        from imapclient.exceptions import LoginError

        a, ep = self.account, self.account.imap
        try:
            self._c = self._factory(ep, self.timeout)
            self._c.login(a.address, a.password)
        except LoginError:
            self._close()
            raise _refused("IMAP", a, ep) from None
        except (OSError, ssl.SSLError, imap.ImapError) as exc:
            self._close()
            raise _unreachable("IMAP", a, ep, exc) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        self._close()

    def _close(self) -> None:
        if self._c is not None:
            try:
                self._c.logout()
            except Exception:  # noqa: BLE001 - a dead connection needs no goodbye
                pass
            self._c = None

    def folders(self) -> dict[str, str]:
        """Placement → folder: INBOX, the spam folder (configured, else the one marked ``\\Junk``) and the
        promotions folder when one is configured."""
        out = {INBOX: "INBOX"}
        spam = self.account.spam_folder
        if spam is None:
            for flags, _, name in self._c.list_folders():
                if b"\\Junk" in flags:
                    spam = name
                    break
        if spam:
            out[SPAM] = spam
        if self.account.promotions_folder:
            out[PROMOTIONS] = self.account.promotions_folder
        return out

    def find(self, header: str, since: _dt.date) -> list[Found]:
        """Every message carrying ``header`` that arrived since ``since``, in each placement folder."""
        found: list[Found] = []
        wanted = f"BODY[HEADER.FIELDS ({header.upper()} MESSAGE-ID SUBJECT FROM REFERENCES)]".encode()
        fetch = f"BODY.PEEK[HEADER.FIELDS ({header.upper()} MESSAGE-ID SUBJECT FROM REFERENCES)]"
        parser = email.parser.BytesHeaderParser(policy=email.policy.default)
        for placement, folder in self.folders().items():
            try:
                self._c.select_folder(folder)
            except Exception:  # noqa: BLE001 - a folder that does not exist holds nothing
                continue
            uids = self._c.search(["HEADER", header, "", "SINCE", since])
            if not uids:
                continue
            promotions = self._gmail_promotions() if placement == INBOX else set()
            for uid, data in sorted(self._c.fetch(uids, [fetch]).items()):
                h = parser.parsebytes(data.get(wanted, b""))
                token = str(h.get(header, "")).strip()
                if not token:
                    continue
                found.append(Found(folder, uid, token, PROMOTIONS if uid in promotions else placement,
                                   str(h.get("Message-ID", "")).strip(), str(h.get("Subject", "")),
                                   str(h.get("From", "")), str(h.get("References", "")).strip()))
        return found

    def _gmail_promotions(self) -> set[int]:
        if self.account.promotions_folder or b"X-GM-EXT-1" not in self._c.capabilities():
            return set()
        return set(self._c.gmail_search(self.GMAIL_PROMOTIONS))

    def keep(self, found: Found) -> bool:
        """Mark ``found`` read and important (``\\Seen \\Flagged``); move it to INBOX when it is in spam.

        Returns True when it was moved out of spam.
        """
        from imapclient import FLAGGED, SEEN

        self._c.select_folder(found.folder)
        self._c.add_flags([found.uid], [SEEN, FLAGGED])
        if found.placement != SPAM:
            return False
        if b"MOVE" in self._c.capabilities():
            self._c.move([found.uid], "INBOX")
        else:
            self._c.copy([found.uid], "INBOX")
            self._c.delete_messages([found.uid])
            self._c.expunge()
        return True
