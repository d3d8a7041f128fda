"""List hygiene: bounces and complaints from Postfix's logs and from reports in the stack's mailboxes, a
suppression list per sending domain, and bounce and complaint rates in the shared history (``hygiene.*``),
where the warmup hold sees a mailbox or domain past its threshold."""

from .imap import Account, ImapError, accounts_from_rows
from .maillog import Delivery, parse_maillog
from .reports import Bounce, Complaint, Report, bounce_kind, parse_report
from .scan import MAX_COMPLAINT_RATE, WINDOW, Tally, flagged, ingest_deliveries, ingest_mailbox, observations, rates
from .store import CSV_COLUMNS, EVERY_DOMAIN, HygieneStore, Suppression, to_csv

__all__ = ["Account", "ImapError", "accounts_from_rows", "Delivery", "parse_maillog", "Bounce", "Complaint", "Report", "bounce_kind",
           "parse_report", "MAX_COMPLAINT_RATE", "WINDOW", "Tally", "flagged", "ingest_deliveries", "ingest_mailbox",
           "observations", "rates", "CSV_COLUMNS", "EVERY_DOMAIN", "HygieneStore", "Suppression", "to_csv"]
