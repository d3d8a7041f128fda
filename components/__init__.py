"""coldmail's Pulumi components: a mail server, a mail domain and its mailbox set."""

from .mail_server import MailServer, MailServerArgs
from .mail_domain import MailDomain, MailDomainArgs
from .mailbox_set import MailboxSet, MailboxSetArgs

__all__ = ["MailServer", "MailServerArgs", "MailDomain", "MailDomainArgs", "MailboxSet", "MailboxSetArgs"]
