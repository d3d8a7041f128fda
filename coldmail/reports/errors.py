"""The errors of the report reader: every one names what failed and the fix, never a password."""

from __future__ import annotations

from coldmail.errors import EXIT_BAD_INPUT, ColdmailError


class ReportsError(ColdmailError):
    """Reading or storing reports failed; ``kind`` says where (``imap_connect``, ``imap_login``…)."""

    kind = "reports"


class NotAReport(ReportsError):
    """A message in a report mailbox holds no DMARC, failure or TLS report (a bounce, a newsletter…)."""

    kind = "not_a_report"


class InsecureImap(ReportsError):
    """Plain IMAP to a host that is not this machine would send the password in clear."""

    kind = "usage"
    exit_code = EXIT_BAD_INPUT


class PhaseNotReady(ReportsError):
    """The reports do not show the evidence for the next DMARC phase; the message gives the numbers."""

    kind = "dmarc_not_ready"
    exit_code = EXIT_BAD_INPUT
