"""Bounce and complaint reports as receiving systems send them, written out in the tests (RFC 3464, RFC 5965)."""

from __future__ import annotations

import itertools
from typing import Optional, Sequence

_ids = itertools.count(1)


def dsn(sender: str, recipients: Sequence[tuple[str, str, str, str]], *, queue_id: Optional[str] = None,
        reporting_mta: str = "mx.remote.test", headers_only: bool = False) -> bytes:
    """A delivery status notification to ``sender``; ``recipients`` are ``(address, action, status, diagnostic)``."""
    n = next(_ids)
    per_message = [f"Reporting-MTA: dns; {reporting_mta}"]
    if queue_id:
        per_message += [f"X-Postfix-Queue-ID: {queue_id}", f"X-Postfix-Sender: rfc822; {sender}"]
    per_message.append("Arrival-Date: Mon, 3 Aug 2026 10:00:00 +0000")
    blocks = []
    for address, action, status, diagnostic in recipients:
        blocks.append("\n".join([f"Final-Recipient: rfc822; {address}", f"Original-Recipient: rfc822;{address}",
                                 f"Action: {action}", f"Status: {status}", "Remote-MTA: dns; mx.dest.test",
                                 f"Diagnostic-Code: smtp; {diagnostic}"]))
    original_type = "text/rfc822-headers" if headers_only else "message/rfc822"
    first = recipients[0][0]
    return f"""From: MAILER-DAEMON@{reporting_mta} (Mail Delivery System)
To: {sender}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{n}@{reporting_mta}>
Date: Mon, 3 Aug 2026 10:00:05 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B{n}"

--B{n}
Content-Type: text/plain; charset=us-ascii

This is the mail system at host {reporting_mta}.
I'm sorry to have to inform you that your message could not be delivered.

--B{n}
Content-Type: message/delivery-status

{chr(10).join(per_message)}

{(chr(10) * 2).join(blocks)}

--B{n}
Content-Type: {original_type}

From: {sender}
To: {first}
Subject: quick question
Message-ID: <orig-{n}@acme-growth.test>

{'' if headers_only else 'Hi, are you the right person for this?'}
--B{n}--
""".replace("\n", "\r\n").encode()


def arf(sender: str, complainer: Optional[str], *, to_header: Optional[str] = None,
        feedback_type: str = "abuse") -> bytes:
    """An ARF feedback report about a message ``sender`` sent; without ``complainer`` the report carries no
    Original-Rcpt-To and only the returned message names the recipient (``to_header``)."""
    n = next(_ids)
    rcpt = f"Original-Rcpt-To: <{complainer}>\n" if complainer else ""
    return f"""From: feedback@fbl.mailbox-provider.test
To: {sender}
Subject: complaint about message from 203.0.113.11
Message-ID: <arf-{n}@fbl.mailbox-provider.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F{n}"

--F{n}
Content-Type: text/plain

This is an email abuse report for an email message received from IP 203.0.113.11.

--F{n}
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: FBL-test/1.0
Version: 1
Original-Mail-From: <{sender}>
{rcpt}Arrival-Date: Mon, 3 Aug 2026 09:00:00 +0000
Reported-Domain: {sender.split('@')[1]}
Source-IP: 203.0.113.11

--F{n}
Content-Type: message/rfc822

From: {sender}
To: {to_header or complainer}
Subject: quick question

Hi!
--F{n}--
""".replace("\n", "\r\n").encode()


def plain(sender: str, to: str) -> bytes:
    return f"From: {sender}\r\nTo: {to}\r\nSubject: re: quick question\r\n\r\nSounds good, call me.\r\n".encode()
