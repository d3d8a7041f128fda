"""Mailcow API client and the Pulumi dynamic resources built on it (see docs/architecture.md)."""

from .client import MailcowClient
from .dkim import MailcowDkim, MailcowDkimArgs, MailcowDkimProvider
from .domain import MailcowDomain, MailcowDomainArgs, MailcowDomainProvider
from .errors import (MailcowApiError, MailcowAuthError, MailcowConflict, MailcowCredentialsError, MailcowError,
                     MailcowUnavailable, MailcowWriteUncertain)
from .mailbox_set import MailcowMailboxSet, MailcowMailboxSetArgs, MailcowMailboxSetProvider
from .mta_sts import MailcowMtaSts, MailcowMtaStsArgs, MailcowMtaStsProvider
from .relayhost import MailcowRelayhost, MailcowRelayhostArgs, MailcowRelayhostProvider

__all__ = [
    "MailcowClient", "MailcowError", "MailcowApiError", "MailcowAuthError", "MailcowUnavailable",
    "MailcowWriteUncertain", "MailcowConflict", "MailcowCredentialsError",
    "MailcowDomain", "MailcowDomainArgs", "MailcowDomainProvider",
    "MailcowDkim", "MailcowDkimArgs", "MailcowDkimProvider",
    "MailcowMailboxSet", "MailcowMailboxSetArgs", "MailcowMailboxSetProvider",
    "MailcowRelayhost", "MailcowRelayhostArgs", "MailcowRelayhostProvider",
    "MailcowMtaSts", "MailcowMtaStsArgs", "MailcowMtaStsProvider",
]
