"""Mailcow rules: DKIM size, mailbox limits, type tokens, secrets in dynamic inputs, set/domain integrity."""

import pytest
from pulumi_policy import Secret
from pulumi_policy import proxy as sdk_proxy

from policy import policies as P

from policy_helpers import Spec, check, check_stack, good_stack

CONN = {"api_url": "https://mx1.acme-mailops.com", "server": "mx1", "verify_tls": True, "ca_bundle": None}


def test_1024_bit_dkim_key_is_rejected_with_config_fix():
    found = check(P.dkim_key_size, P.MAILCOW_DKIM, dict(CONN, domain="a.com", selector="dkim", key_size=1024),
                  name="a-com-dkim")
    assert len(found) == 1 and "a-com-dkim" in found[0] and "1024" in found[0] and "keySize: 2048" in found[0]


@pytest.mark.parametrize("size", [2048, 2048.0, 4096])
def test_dkim_key_of_2048_bits_or_more_passes(size):
    assert check(P.dkim_key_size, P.MAILCOW_DKIM, dict(CONN, domain="a.com", key_size=size)) == []


def test_dkim_minimum_is_configurable_and_unknown_size_is_skipped():
    props = dict(CONN, domain="a.com", key_size=2048)
    assert len(check(P.dkim_key_size, P.MAILCOW_DKIM, props, config={"minKeyBits": 3072})) == 1
    props["key_size"] = sdk_proxy.UNKNOWN_NUMBER_VALUE
    assert check(P.dkim_key_size, P.MAILCOW_DKIM, props) == []


def mailbox_set(n, daily=30.0, passwords=None):
    boxes = [{"local_part": f"user{i}", "name": f"User {i}", "quota_mb": 1024.0, "active": True} for i in range(n)]
    return dict(CONN, domain="a.com", mailboxes=boxes, daily_send_limit=daily,
                passwords=passwords if passwords is not None else Secret({b["local_part"]: "x" for b in boxes}))


def test_six_mailboxes_exceed_cold_email_default_of_five():
    assert check(P.mailboxes_per_domain, P.MAILCOW_MAILBOX_SET, mailbox_set(5)) == []
    found = check(P.mailboxes_per_domain, P.MAILCOW_MAILBOX_SET, mailbox_set(6), name="a-com-mailboxes-set")
    assert len(found) == 1 and "6 mailboxes" in found[0] and "maximum of 5" in found[0]
    assert check(P.mailboxes_per_domain, P.MAILCOW_MAILBOX_SET, mailbox_set(6),
                 config={"maxMailboxesPerDomain": 8}) == []


def test_planned_daily_sends_above_warmup_cap_are_reported():
    assert check(P.daily_sends_per_mailbox, P.MAILCOW_MAILBOX_SET, mailbox_set(3, daily=40.0)) == []
    found = check(P.daily_sends_per_mailbox, P.MAILCOW_MAILBOX_SET, mailbox_set(3, daily=120.0))
    assert len(found) == 1 and "120 sends" in found[0] and "cap of 40" in found[0]
    assert check(P.daily_sends_per_mailbox, P.MAILCOW_MAILBOX_SET, mailbox_set(3, daily=120.0),
                 config={"maxPerMailboxPerDay": 150}) == []


def test_anonymous_dynamic_type_is_rejected_and_typed_one_passes():
    found = check(P.dynamic_resource_type_token, P.ANONYMOUS_DYNAMIC, {"domain": "a.com"}, name="thing")
    assert len(found) == 1 and "thing" in found[0] and 'module="coldmail"' in found[0]
    assert check(P.dynamic_resource_type_token, P.MAILCOW_DOMAIN, {"domain": "a.com"}) == []


def test_secret_passwords_and_connection_inputs_pass():
    assert check(P.dynamic_inputs_no_clear_secrets, P.MAILCOW_MAILBOX_SET, mailbox_set(2)) == []


def test_clear_passwords_are_reported_with_their_path():
    props = mailbox_set(2, passwords={"user0": "hunter2-fake", "user1": Secret("y")})
    found = check(P.dynamic_inputs_no_clear_secrets, P.MAILCOW_MAILBOX_SET, props, name="set")
    assert len(found) == 1 and "`passwords.user0`" in found[0] and "Output.secret" in found[0]
    assert "hunter2" not in found[0]


@pytest.mark.parametrize("key", ["api_key", "apiKey", "mailcow_api_key", "token", "client_secret"])
def test_api_key_like_input_in_clear_is_reported(key):
    props = dict(CONN, domain="a.com", **{key: "FAKE-not-a-real-key"})
    assert len(check(P.dynamic_inputs_no_clear_secrets, P.MAILCOW_DOMAIN, props)) == 1


def test_empty_or_numeric_sensitive_looking_inputs_and_provider_blob_pass():
    props = dict(CONN, domain="a.com", api_key="", password_version=2.0, __provider="gASV...pickled")
    assert check(P.dynamic_inputs_no_clear_secrets, P.MAILCOW_DOMAIN, props) == []


def test_non_dynamic_resources_are_out_of_scope_of_the_secret_rule():
    assert check(P.dynamic_inputs_no_clear_secrets, "random:index/randomPassword:RandomPassword",
                 {"password": "x"}) == []


def test_good_stack_passes_mailbox_integrity_rules():
    for policy in (P.mailbox_set_has_domain, P.mailbox_addresses_unique):
        assert check_stack(policy, good_stack().values()) == [], policy.name


def test_mailbox_set_without_its_domain_is_reported():
    s = good_stack()
    del s["b-com-domain"]
    found = check_stack(P.mailbox_set_has_domain, s.values())
    assert [n for _, n in found] == ["b-com-mailboxes"] and "b.com" in found[0][0]


def test_same_address_in_two_sets_is_reported_once_on_the_second():
    s = good_stack()
    s["dup"] = Spec(P.MAILCOW_MAILBOX_SET, "dup-set", {"domain": "A.com", "mailboxes": [{"local_part": "anna.berg"}]})
    found = check_stack(P.mailbox_addresses_unique, s.values())
    assert [n for _, n in found] == ["dup-set"] and "anna.berg@a.com" in found[0][0] and "a-com-mailboxes" in found[0][0]
