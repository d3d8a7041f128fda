"""Session-wide program runs: each stack is run once and shared by every program test."""

import pytest

from program_helpers import Loaded, big_raw, prod_raw


@pytest.fixture(scope="session")
def prod():
    return Loaded(prod_raw())


@pytest.fixture(scope="session")
def big():
    return Loaded(big_raw())


@pytest.fixture(params=["prod", "big"])
def loaded(request):
    return request.getfixturevalue(request.param)
