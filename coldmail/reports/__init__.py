"""DMARC and TLS reports: read the report mailboxes, store each report once, summarise per domain.

``imap`` fetches new messages from a report mailbox, ``parse`` turns each into a typed report
(aggregate, failure, SMTP TLS), ``store`` keeps them idempotently in the history file, ``summary``
computes per-domain pass rates, sources and TLS failures, and ``phases`` says when a domain's DMARC
policy may move on. The user guide is docs/reports.md.
"""

from .errors import InsecureImap, NotAReport, ReportsError
from .imap import FetchResult, ImapMailbox, fetch
from .parse import AggregateReport, FailureReport, Parser, TlsReport
from .phases import THRESHOLDS, Readiness, next_phase, readiness
from .sources import SourceSet, stack_ips_from_outputs
from .store import ReportStore
from .summary import DomainSummary, observations, summarise

__all__ = ["ReportsError", "NotAReport", "InsecureImap", "ImapMailbox", "FetchResult", "fetch", "Parser",
           "AggregateReport", "FailureReport", "TlsReport", "THRESHOLDS", "Readiness", "next_phase", "readiness",
           "SourceSet", "stack_ips_from_outputs", "ReportStore", "DomainSummary", "observations", "summarise"]
