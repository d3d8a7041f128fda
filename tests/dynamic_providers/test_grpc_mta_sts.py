"""MailcowMtaSts through the SDK's gRPC provider server, as the engine drives it, against the emulator."""

from __future__ import annotations

import pytest

from coldmail.model import tokens
from dynamic_providers.errors import MailcowConflict
from dynamic_providers.mta_sts import MailcowMtaStsProvider
from tests.support.grpc_harness import ProviderError

DOMAIN = "alpha.example.test"
TESTING = "version: STSv1\nmode: testing\nmax_age: 604800\nmx: mx1.example.test\n"
#: `printf 'version: STSv1\nmode: testing\nmax_age: 604800\nmx: mx1.example.test\n' | sha256sum | cut -c1-20`
TESTING_ID = "91cb20554985df9c06d7"


def inputs(mc, **over):
    return {"api_url": mc.url, "server": "mx1", "verify_tls": True, "ca_bundle": None, "domain": DOMAIN,
            "mode": "testing", "mx": ["mx1.example.test"], "max_age": 604800, "testing_since": None, **over}


@pytest.fixture
def policy(provider_session, mc, request):
    mc.seed_domain(DOMAIN)
    return provider_session.harness.resource(MailcowMtaStsProvider(), tokens.MAILCOW_MTA_STS.rsplit(":", 1)[1],
                                             request.node.name[:40])


def test_create_adds_the_policy_and_reads_it_back_where_senders_read_it(policy, mc):
    step = policy.up(inputs(mc))
    assert step.op == "create"
    assert mc.endpoints() == ["mta-sts.txt", "add/mta-sts", "mta-sts.txt"]
    (add,) = [c for c in mc.calls if c.endpoint == "add/mta-sts"]
    assert add.body == {"domain": DOMAIN, "version": "STSv1", "mode": "testing", "mx": "mx1.example.test",
                        "max_age": "604800", "active": "1"}
    out = policy.state.outputs
    assert (out["policy"], out["policy_id"]) == (TESTING, TESTING_ID)


def test_an_unchanged_policy_costs_no_call_and_a_new_mode_one_edit(policy, mc):
    policy.up(inputs(mc))
    mc.reset_counters()
    assert policy.up(inputs(mc)).op == "same" and mc.calls == []
    step = policy.up(inputs(mc, mode="enforce", testing_since="2026-01-05"))
    assert step.op == "update"
    assert mc.endpoints("write") == ["edit/mta-sts"]
    (edit,) = [c for c in mc.calls if c.endpoint == "edit/mta-sts"]
    assert edit.body == {"items": [DOMAIN], "attr": {"version": "STSv1", "mode": "enforce", "mx": "mx1.example.test",
                                                     "max_age": "604800", "active": "1"}}
    assert policy.state.outputs["policy"] == "version: STSv1\nmode: enforce\nmax_age: 604800\nmx: mx1.example.test\n"
    assert policy.state.outputs["policy_id"] != TESTING_ID


def test_refresh_reads_the_served_file_and_sees_drift_and_removal(policy, mc):
    policy.up(inputs(mc))
    mc.mta_sts[DOMAIN]["mode"] = "none"
    assert policy.refresh().outputs["mode"] == "none"
    assert policy.diff(policy.state.inputs)["changes"]
    mc.mta_sts[DOMAIN]["active"] = "0"
    assert policy.refresh() is None


def test_destroy_deactivates_the_policy_since_mailcow_has_no_delete_route(policy, mc):
    policy.up(inputs(mc))
    mc.reset_counters()
    policy.destroy()
    assert mc.endpoints("write") == ["edit/mta-sts"]
    assert mc.mta_sts[DOMAIN]["active"] == "0"
    assert mc.endpoints("write").count("delete/mta-sts") == 0


def test_a_policy_someone_else_serves_is_not_taken_over(policy, mc):
    mc.seed_mta_sts(DOMAIN, "enforce", "mx9.elsewhere.test")
    with pytest.raises(ProviderError) as err:
        policy.up(inputs(mc))
    assert MailcowConflict.__name__ in err.value.details and "did not make" in err.value.details
    assert mc.endpoints("write") == []


def test_an_identical_served_policy_is_adopted_without_a_write(policy, mc):
    mc.seed_mta_sts(DOMAIN, "testing", "mx1.example.test")
    assert policy.up(inputs(mc)).op == "create"
    assert mc.endpoints("write") == []


def test_check_refuses_a_bad_mode_and_a_short_max_age(policy, mc):
    with pytest.raises(AssertionError) as err:
        policy.check(inputs(mc, mode="strict", max_age=60))
    assert "mode" in str(err.value) and "max_age" in str(err.value)
