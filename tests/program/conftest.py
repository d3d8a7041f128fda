"""Session-wide program runs: each stack is run once and shared by every program test."""

import pytest

from program_helpers import Loaded, big_raw, prod_raw


@pytest.fixture(scope="session")
def prod():
    loaded = Loaded(prod_raw(), "prod")
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def big():
    loaded = Loaded(big_raw(), "big")
    yield loaded
    loaded.close()


@pytest.fixture(params=["prod", "big"])
def loaded(request):
    return request.getfixturevalue(request.param)
