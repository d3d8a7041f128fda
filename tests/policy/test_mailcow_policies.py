"""Mailcow rules: DKIM size, mailbox limits, type tokens, secrets in dynamic inputs, set/domain integrity."""

import pytest
from pulumi_policy import Secret
from pulumi_policy import proxy as sdk_proxy

from coldmail.model import tokens
from policy import mailcow
from tests.policy.policy_helpers import Spec, check, check_stack

CONN = {"api_url": "https://mx1.acme-mailops.com", "server": "mx1", "verify_tls": True, "ca_bundle": None}


def test_1024_bit_dkim_key_is_rejected_with_config_fix():
    found = check(mailcow.dkim_key_size, tokens.MAILCOW_DKIM, dict(CONN, domain="a.com", selector="dkim", key_size=1024),
                  name="a-com-dkim")
    assert len(found) == 1 and "a-com-dkim" in found[0] and "1024" in found[0] and "keySize: 2048" in found[0]


@pytest.mark.parametrize("size", [2048, 2048.0, 4096])
def test_dkim_key_of_2048_bits_or_more_passes(size):
    assert check(mailcow.dkim_key_size, tokens.MAILCOW_DKIM, dict(CONN, domain="a.com", key_size=size)) == []


def test_dkim_minimum_is_configurable_and_unknown_size_is_skipped():
    props = dict(CONN, domain="a.com", key_size=2048)
    assert len(check(mailcow.dkim_key_size, tokens.MAILCOW_DKIM, props, config={"minKeyBits": 3072})) == 1
    props["key_size"] = sdk_proxy.UNKNOWN_NUMBER_VALUE
    assert check(mailcow.dkim_key_size, tokens.MAILCOW_DKIM, props) == []


def mailbox_set(n, daily=30.0, passwords=None):
    boxes = [{"local_part": f"user{i}", "name": f"User {i}", "quota_mb": 1024.0, "active": True} for i in range(n)]
    return dict(CONN, domain="a.com", mailboxes=boxes, daily_send_limit=daily,
                passwords=passwords if passwords is not None else Secret({b["local_part"]: "x" for b in boxes}))


def test_six_mailboxes_exceed_cold_email_default_of_five():
    assert check(mailcow.mailboxes_per_domain, tokens.MAILCOW_MAILBOX_SET, mailbox_set(5)) == []
    found = check(mailcow.mailboxes_per_domain, tokens.MAILCOW_MAILBOX_SET, mailbox_set(6), name="a-com-mailboxes-set")
    assert len(found) == 1 and "6 mailboxes" in found[0] and "maximum of 5" in found[0]
    assert check(mailcow.mailboxes_per_domain, tokens.MAILCOW_MAILBOX_SET, mailbox_set(6),
                 config={"maxMailboxesPerDomain": 8}) == []


def test_planned_daily_sends_above_warmup_cap_are_reported():
    assert check(mailcow.daily_sends_per_mailbox, tokens.MAILCOW_MAILBOX_SET, mailbox_set(3, daily=40.0)) == []
    found = check(mailcow.daily_sends_per_mailbox, tokens.MAILCOW_MAILBOX_SET, mailbox_set(3, daily=120.0))
    assert len(found) == 1 and "120 sends" in found[0] and "cap of 40" in found[0]
    assert check(mailcow.daily_sends_per_mailbox, tokens.MAILCOW_MAILBOX_SET, mailbox_set(3, daily=120.0),
                 config={"maxPerMailboxPerDay": 150}) == []


def test_anonymous_dynamic_type_is_rejected_and_typed_one_passes():
    found = check(mailcow.dynamic_resource_type_token, tokens.ANONYMOUS_DYNAMIC, {"domain": "a.com"}, name="thing")
    assert len(found) == 1 and "thing" in found[0] and 'module="coldmail"' in found[0]
    assert check(mailcow.dynamic_resource_type_token, tokens.MAILCOW_DOMAIN, {"domain": "a.com"}) == []


def test_secret_passwords_and_connection_inputs_pass():
    assert check(mailcow.dynamic_inputs_no_clear_secrets, tokens.MAILCOW_MAILBOX_SET, mailbox_set(2)) == []


def test_clear_passwords_are_reported_with_their_path():
    props = mailbox_set(2, passwords={"user0": "hunter2-fake", "user1": Secret("y")})
    found = check(mailcow.dynamic_inputs_no_clear_secrets, tokens.MAILCOW_MAILBOX_SET, props, name="set")
    assert len(found) == 1 and "`passwords.user0`" in found[0] and "Output.secret" in found[0]
    assert "hunter2" not in found[0]


@pytest.mark.parametrize("key", ["api_key", "apiKey", "mailcow_api_key", "token", "client_secret"])
def test_api_key_like_input_in_clear_is_reported(key):
    props = dict(CONN, domain="a.com", **{key: "FAKE-not-a-real-key"})
    assert len(check(mailcow.dynamic_inputs_no_clear_secrets, tokens.MAILCOW_DOMAIN, props)) == 1


def test_empty_or_numeric_sensitive_looking_inputs_and_provider_blob_pass():
    props = dict(CONN, domain="a.com", api_key="", password_version=2.0, __provider="gASV...pickled")
    assert check(mailcow.dynamic_inputs_no_clear_secrets, tokens.MAILCOW_DOMAIN, props) == []


def test_non_dynamic_resources_are_out_of_scope_of_the_secret_rule():
    assert check(mailcow.dynamic_inputs_no_clear_secrets, tokens.RANDOM_PASSWORD,
                 {"password": "x"}) == []


def test_good_stack_passes_mailbox_integrity_rules(stack):
    for policy in (mailcow.mailbox_set_has_domain, mailcow.mailbox_addresses_unique):
        assert check_stack(policy, stack.values()) == [], policy.name


def test_mailbox_set_without_its_domain_is_reported(stack):
    del stack["b-com-domain"]
    found = check_stack(mailcow.mailbox_set_has_domain, stack.values())
    assert [n for _, n in found] == ["b-com-mailboxes"] and "b.com" in found[0][0]


def test_same_address_in_two_sets_is_reported_once_on_the_second(stack):
    stack["dup"] = Spec(tokens.MAILCOW_MAILBOX_SET, "dup-set", {"domain": "A.com", "mailboxes": [{"local_part": "anna.berg"}]})
    found = check_stack(mailcow.mailbox_addresses_unique, stack.values())
    assert [n for _, n in found] == ["dup-set"] and "anna.berg@a.com" in found[0][0] and "a-com-mailboxes" in found[0][0]
