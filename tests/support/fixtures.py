"""Fixtures shared by the test folders that talk to Mailcow; each folder's ``conftest.py`` imports them."""

from __future__ import annotations

import pytest

from tests.support.mail_stack import API_KEY, start_session
from tests.support.mailcow_emulator import MailcowEmulator


@pytest.fixture
def mc():
    """A fresh Mailcow emulator on 127.0.0.1 that accepts the tests' fake API key."""
    with MailcowEmulator(api_key=API_KEY) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def provider_session():
    """One ``python -m pulumi.dynamic`` process per test module, configured with the fake API key."""
    session = start_session()
    yield session
    session.close()
