"""Bounce and complaint reports in mail: RFC 3464 delivery status notifications and RFC 5965 (ARF)
feedback reports, as they arrive in the stack's mailboxes.

A bounce is *hard* when the address itself is bad, and only hard bounces suppress an address: a full
mailbox, a greylisting delay or a policy block (``5.7.x``: the sender's reputation, not the list) are
*soft*. See :func:`bounce_kind` for the exact rule.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Optional

HARD, SOFT = "hard", "soft"
#: Enhanced status codes (RFC 3463) that say the address is bad: X.1.1 bad mailbox, X.1.2 bad system,
#: X.1.3 bad syntax, X.1.6 moved, X.1.10 null MX (RFC 7505), X.2.1 mailbox disabled, X.4.4 unroutable.
HARD_DETAILS = frozenset({"1.1", "1.2", "1.3", "1.6", "1.10", "2.1", "4.4"})
# Receivers that answer a bad address with an unspecific 5.0.0 or 5.5.x still say so in words.
_NO_SUCH_USER = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|does not exist|unknown recipient|"
    r"invalid (recipient|mailbox)|recipient address rejected|address not found|mailbox not found|"
    r"account (is )?disabled", re.IGNORECASE)
_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")


def bounce_kind(status: str, action: str = "failed", diagnostic: str = "") -> str:
    """``hard`` for a permanent failure of the address itself, else ``soft``.

    Hard: status class 5 with an address detail of :data:`HARD_DETAILS`, or class 5 whose diagnostic says
    the user does not exist. Everything delayed or temporary (class 4) is soft, and so are permanent
    failures about anything but the address (full mailbox 5.2.2, content 5.6.x, policy 5.7.x).
    """
    m = _STATUS.match(status.strip())
    if action.lower() not in ("failed", "") or not m or m.group(1) != "5":
        return SOFT
    if f"{int(m.group(2))}.{int(m.group(3))}" in HARD_DETAILS:
        return HARD
    return HARD if _NO_SUCH_USER.search(diagnostic or "") else SOFT


@dataclass(frozen=True)
class Bounce:
    """One recipient of a delivery status notification that was not delivered."""

    recipient: str
    status: str
    action: str
    diagnostic: str
    kind: str
    queue_id: Optional[str]
    """The queue id the reporting Postfix gave the message (``X-Postfix-Queue-ID``), when it says."""
    sender: Optional[str]
    """The envelope sender of the bounced message, when the report carries it."""


@dataclass(frozen=True)
class Complaint:
    """A recipient who marked a message as spam (an ARF report of type ``abuse``)."""

    address: str
    feedback_type: str
    sender: Optional[str]
    reported_domain: Optional[str]


@dataclass(frozen=True)
class Report:
    message_id: Optional[str]
    bounces: tuple[Bounce, ...] = ()
    complaints: tuple[Complaint, ...] = ()


def _address(value: Optional[str]) -> Optional[str]:
    """The bare address of ``rfc822; a@b``, ``<a@b>`` or ``a@b``, lowercased."""
    if not value:
        return None
    value = str(value).strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    address = parseaddr(value.strip())[1] or value.strip().strip("<>")
    return address.lower() if "@" in address else None


def _fields(part: EmailMessage) -> list[EmailMessage]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, EmailMessage)] if isinstance(payload, list) else []


def _original(report: EmailMessage) -> Optional[EmailMessage]:
    """The returned message (or just its headers) a report carries, parsed."""
    for part in report.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/rfc822-headers"):
            inner = _fields(part)
            if inner:
                return inner[0]
        elif ctype == "text/rfc822-headers":
            return email.message_from_string(part.get_content(), policy=email.policy.default)
    return None


def _dsn(msg: EmailMessage, original: Optional[EmailMessage]) -> list[Bounce]:
    status_part = next((p for p in msg.walk() if p.get_content_type() in
                        ("message/delivery-status", "message/global-delivery-status")), None)
    if status_part is None:
        return []
    blocks = _fields(status_part)
    if not blocks:
        return []
    per_message, recipients = blocks[0], blocks[1:]
    queue_id = per_message.get("X-Postfix-Queue-ID")
    sender = _address(per_message.get("X-Postfix-Sender")) or (
        _address(original.get("Return-Path")) or _address(original.get("From")) if original is not None else None)
    out = []
    for r in recipients:
        recipient = _address(r.get("Final-Recipient")) or _address(r.get("Original-Recipient"))
        action = str(r.get("Action", "")).strip().lower()
        if recipient is None or action in ("delivered", "relayed", "expanded"):
            continue
        status = str(r.get("Status", "")).strip()
        diagnostic = " ".join(str(r.get("Diagnostic-Code", "")).split())
        out.append(Bounce(recipient, status, action, diagnostic, bounce_kind(status, action, diagnostic),
                          str(queue_id).strip() if queue_id else None, sender))
    return out


def _arf(msg: EmailMessage, original: Optional[EmailMessage]) -> list[Complaint]:
    part = next((p for p in msg.walk() if p.get_content_type() == "message/feedback-report"), None)
    blocks = _fields(part) if part is not None else []
    if not blocks:
        return []
    fields = blocks[0]
    feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in ("abuse", "fraud", "virus", "other"):
        return []
    recipients = [a for a in (_address(v) for v in fields.get_all("Original-Rcpt-To") or []) if a]
    if not recipients and original is not None:
        recipients = [a.lower() for _, a in getaddresses(original.get_all("To") or []) if "@" in a]
    sender = _address(fields.get("Original-Mail-From")) or (
        _address(original.get("From")) if original is not None else None)
    domain = fields.get("Reported-Domain")
    return [Complaint(a, feedback_type, sender, str(domain).strip().lower() if domain else None) for a in recipients]


def parse_report(raw: bytes) -> Optional[Report]:
    """The bounces and complaints of one message; None when it is no delivery status or feedback report."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.get_content_type() != "multipart/report":
        return None
    report_type = str(msg.get_param("report-type", "")).lower()
    original = _original(msg)
    message_id = str(msg.get("Message-ID", "")).strip() or None
    if report_type in ("delivery-status", "global-delivery-status"):
        return Report(message_id, bounces=tuple(_dsn(msg, original)))
    if report_type == "feedback-report":
        return Report(message_id, complaints=tuple(_arf(msg, original)))
    return None
