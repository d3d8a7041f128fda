"""Fixtures for the emulator's own tests: a fresh emulator per test and a thin HTTP helper."""

from __future__ import annotations

import pytest

from tests.emulator.emulator_helpers import Api
from tests.support.fixtures import mc  # noqa: F401 - the shared emulator fixture


@pytest.fixture
def api(mc):
    return Api(mc, mc.api_key)
