"""A real Dovecot on loopback holding the stack's mailboxes, and a fresh history per test."""

import pytest

from coldmail.hygiene import Account, HygieneStore
from coldmail.ops.history import History
from tests.support.mta import Dovecot

PASSWORDS = {"anna@acme-growth.test": "test-only-pw-anna", "ben@acme-growth.test": "test-only-pw-ben",
             "cara@northwind.test": "test-only-pw-cara"}


@pytest.fixture
def dovecot():
    server = Dovecot(PASSWORDS)
    yield server
    server.stop()


@pytest.fixture
def history(tmp_path):
    return History(str(tmp_path / "history.sqlite"))


@pytest.fixture
def store(history):
    return HygieneStore(history)


def account(dovecot: Dovecot, address: str, tls: bool = False) -> Account:
    if tls:
        return Account(address, "127.0.0.1", dovecot.imaps_port, PASSWORDS[address], ca_file=str(dovecot.cert))
    return Account(address, "127.0.0.1", dovecot.imap_port, PASSWORDS[address], tls=False)
