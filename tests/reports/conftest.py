"""A real Dovecot on 127.0.0.1 holding report mailboxes, shared by the whole session (each stop costs ~1 s).

Each test gets mailboxes of its own, so tests never see each other's mail: the users are written up
front, because Dovecot re-reads a passwd-file at most once a second.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from coldmail.ops.history import History
from coldmail.reports import ImapMailbox, Parser, ReportStore
from tests.support.mta import Dovecot as _Dovecot

#: Test-only IMAP password, for mailboxes that exist only inside the test Dovecot.
PASSWORD = "test-only-imap-password"
#: Mailboxes available to the session's tests.
USERS = 200


class ReportMailboxes:
    """The session's Dovecot handed out one report mailbox at a time."""

    def __init__(self, server: _Dovecot, names: Iterator[str]) -> None:
        self.server, self._names = server, names
        self.imap_port, self.imaps_port, self.ca_file = server.imap_port, server.imaps_port, server.ca_file

    def add_user(self) -> str:
        """A mailbox no other test uses; its login is the returned address, its password :data:`PASSWORD`."""
        return next(self._names)

    def deliver(self, user: str, message: bytes) -> None:
        self.server.deliver(user, message, sender="reporter@receiver.test")

    def mailbox(self, user: str, **kw) -> ImapMailbox:
        """The mailbox over plain IMAP (loopback); pass ``tls``/``port``/``ca_file`` for the TLS listeners."""
        kw.setdefault("port", self.imap_port)
        kw.setdefault("tls", "plain")
        return ImapMailbox(host="127.0.0.1", user=user, password=PASSWORD, **kw)


@pytest.fixture(scope="session")
def dovecot() -> ReportMailboxes:
    names = [f"reports{n}@reports.test" for n in range(1, USERS + 1)]
    server = _Dovecot({n: PASSWORD for n in names}, folders=())
    try:
        yield ReportMailboxes(server, iter(names))
    finally:
        server.stop()


@pytest.fixture
def store(tmp_path) -> ReportStore:
    return ReportStore(History(str(tmp_path / ".coldmail" / "history.sqlite")))


@pytest.fixture(scope="session")
def parser() -> Parser:
    return Parser()
