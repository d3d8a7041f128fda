"""Fixtures for the emulator's own tests: a fresh emulator per test and a thin HTTP helper."""

from __future__ import annotations

import pytest

from tests.emulator.emulator_helpers import Api
from tests.support.mailcow_emulator import MailcowEmulator


@pytest.fixture
def mc():
    with MailcowEmulator() as emulator:
        yield emulator


@pytest.fixture
def api(mc):
    return Api(mc, mc.api_key)
