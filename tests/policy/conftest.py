"""Fixtures shared by the policy tests."""

import pytest

from tests.policy.policy_helpers import Spec, good_stack


@pytest.fixture
def stack() -> dict[str, Spec]:
    """A fresh copy of the small stack that passes every rule, keyed by resource name, for a test to break."""
    return good_stack()
