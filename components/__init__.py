"""coldmail's Pulumi components: a mail server, its backups, a mail domain and its mailbox set, the on-server
agent."""

from .mail_server import MailServer, MailServerArgs
from .backups import Backups, BackupsArgs
from .mail_domain import MailDomain, MailDomainArgs
from .mailbox_set import MailboxSet, MailboxSetArgs
from .operations import Operations, OperationsArgs
from .report_mailboxes import ReportMailboxes, ReportMailboxesArgs

__all__ = ["MailServer", "MailServerArgs", "Backups", "BackupsArgs", "MailDomain", "MailDomainArgs", "MailboxSet",
           "MailboxSetArgs", "Operations", "OperationsArgs", "ReportMailboxes", "ReportMailboxesArgs"]
