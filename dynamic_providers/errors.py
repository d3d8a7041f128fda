"""One exception hierarchy for everything that talks to Mailcow.

Every error the client or a provider raises derives from :class:`MailcowError`, so callers that only
want "did Mailcow work?" catch one class. Messages name the object, the endpoint and what to do; they
never contain an API key or a password.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence


class MailcowError(Exception):
    """Root of every Mailcow client and provider error."""


class MailcowApiError(MailcowError):
    """Mailcow answered and refused the call.

    Renders like ``mailbox object_exists ['a@x.tld'] (POST add/mailbox)``: the object kind, Mailcow's
    untranslated message key, its arguments and the call. ``status`` is the HTTP status (Mailcow uses
    200 for business errors).
    """

    def __init__(self, msg_key: str, msg_args: Sequence[Any] = (), *, endpoint: str = "", method: str = "",
                 status: int = 200, entries: Optional[list[dict]] = None, hint: str = ""):
        self.msg_key = msg_key
        self.msg_args = list(msg_args)
        self.endpoint = endpoint
        self.method = method
        self.status = status
        self.entries = list(entries or [])
        self.hint = hint
        super().__init__(self._render())

    @property
    def kind(self) -> str:
        """The object kind from the endpoint, e.g. ``mailbox`` for ``add/mailbox``."""
        parts = self.endpoint.split("/")
        return parts[1] if len(parts) > 1 else self.endpoint

    def _render(self) -> str:
        call = f"{self.method} {self.endpoint}".strip()
        if self.status != 200:
            call += f", HTTP {self.status}"
        text = f"{self.kind} {self.msg_key}"
        if self.msg_args:
            text += f" {self.msg_args!r}"
        text += f" ({call})"
        if self.hint:
            text += f". {self.hint}"
        return text


class MailcowAuthError(MailcowApiError):
    """The API key was refused (HTTP 401), is read-only (403) or was not sent at all (empty GET body).

    Never retried: Mailcow's netfilter bans the client IP after 10 failed logins in 10 minutes.
    """

    HINT = ("Check the API key (pulumi config set --secret --path 'coldmail:servers[<i>].mailcowApiKey' <key>) "
            "and that API_ALLOW_FROM in mailcow.conf lists this machine's IP as Mailcow sees it. "
            "Do not retry in a loop: Mailcow bans the client IP for 30 minutes after 10 failed logins "
            "in 10 minutes")

    def __init__(self, msg_key: str, msg_args: Sequence[Any] = (), **kw: Any):
        kw.setdefault("hint", self.HINT)
        super().__init__(msg_key, msg_args, **kw)


class MailcowUnavailable(MailcowError):
    """Mailcow could not be reached or kept failing after every safe retry."""

    def __init__(self, message: str, *, endpoint: str = "", method: str = "", attempts: int = 0):
        self.endpoint = endpoint
        self.method = method
        self.attempts = attempts
        super().__init__(message)


class MailcowWriteUncertain(MailcowUnavailable):
    """A write was sent but its outcome is unknown (timeout, reset, empty HTTP 500 after sending).

    The client never re-sends such a write blindly: it reads the object first and decides.
    """


class MailcowConflict(MailcowError):
    """Live Mailcow state disagrees with the stack in a way coldmail must not resolve on its own
    (a foreign mailbox left in a domain, a different DKIM key, an address that belongs to someone else)."""


class MailcowCredentialsError(MailcowError):
    """No API key is configured for a server."""
