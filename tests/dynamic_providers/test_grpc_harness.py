"""The harness itself: a provider's error reaches the test whole, as the engine would show it."""

from __future__ import annotations

import pytest

from tests.support.grpc_harness import ChainedErrorProvider, ProviderError


def test_a_long_chained_provider_error_arrives_whole(provider_session):
    res = provider_session.harness.resource(ChainedErrorProvider(), "ChainedError", "long")
    with pytest.raises(ProviderError) as exc:
        res.up({"size": 12000})
    details = exc.value.details
    assert exc.value.code.name == "UNKNOWN", details[:300]
    assert "cause:" + "c" * 12000 + ":cause-end" in details
    assert "The above exception was the direct cause of the following exception" in details
    assert details.rstrip().endswith("error:" + "e" * 12000 + ":error-end")
