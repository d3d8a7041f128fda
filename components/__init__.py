"""coldmail's Pulumi components: a mail server, its backups, a mail domain and its mailbox set."""

from .mail_server import MailServer, MailServerArgs
from .backups import Backups, BackupsArgs
from .mail_domain import MailDomain, MailDomainArgs
from .mailbox_set import MailboxSet, MailboxSetArgs

__all__ = ["MailServer", "MailServerArgs", "Backups", "BackupsArgs", "MailDomain", "MailDomainArgs", "MailboxSet", "MailboxSetArgs"]
