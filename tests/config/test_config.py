import copy
import os

import pytest

from coldmail import model as cm
from coldmail.model.stackfile import raw_from_stack_file
from tests.support.stacks import raw_stack, server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROD = os.path.join(ROOT, "Pulumi.prod.yaml")


def base():
    return raw_stack({"name": "alpha-example.com", "ip": 1, "mailboxes": {"count": 2}},
                     {"name": "beta-example.com", "ip": 2, "mailboxes": [{"localPart": "anna", "name": "Anna Berg"}]},
                     servers=[server(serverType="cx32")],
                     names={"firstNames": ["Anna", "Jonas"], "lastNames": ["Berg", "Schulz"]})


def issues_of(raw):
    return {i.path: i for i in cm.validate(raw)}


def test_prod_stack_file_is_valid_and_matches_its_description():
    stack = cm.load(raw_from_stack_file(PROD))
    assert len(stack.servers) == 1 and stack.servers[0].floating_ips == 3
    assert len(stack.domains) == 12
    assert sum(len(d.mailboxes) for d in stack.domains) == 36
    assert {d.ip for d in stack.domains} == {1, 2, 3}


def test_prod_stack_file_holds_no_secret():
    raw = raw_from_stack_file(PROD)
    assert "sshPrivateKey" not in raw
    assert all("mailcowApiKey" not in s for s in raw["servers"])
    with open(PROD) as fh:
        text = fh.read()
    assert "secure:" not in text


def test_namespaced_keys_and_json_strings_are_accepted_like_pulumi_passes_them():
    import json
    raw = {f"coldmail:{k}": json.dumps(v) for k, v in base().items()}
    stack = cm.load(raw)
    assert [d.name for d in stack.domains] == ["alpha-example.com", "beta-example.com"]


def test_every_error_is_reported_at_once_with_its_path_and_fix():
    raw = base()
    raw["servers"][0]["floatingIps"] = "three"
    raw["domains"][0]["server"] = "mx9"
    raw["domains"][1]["mailboxes"] = [{"localPart": "Anna+promo"}]
    raw["dkim"] = {"keySize": 1024}
    found = issues_of(raw)
    assert set(found) >= {
        "coldmail:servers[0].floatingIps",
        "coldmail:domains[0].server",
        "coldmail:domains[1].mailboxes[0].localPart",
        "coldmail:dkim.keySize",
    }
    assert all(i.fix for i in found.values())
    with pytest.raises(cm.ConfigError) as exc:
        cm.load(raw)
    assert len(exc.value.issues) == len(found)
    assert "coldmail:domains[0].server" in str(exc.value)


def test_mailbox_count_path_is_reported_exactly():
    raw = base()
    raw["domains"][0]["mailboxes"]["count"] = 0
    assert "coldmail:domains[0].mailboxes.count" in issues_of(raw)


def test_idn_domain_is_stored_as_punycode():
    raw = base()
    raw["domains"][0]["name"] = "Bücher-Beispiel.de"
    d = cm.load(raw).domains[0]
    assert d.name == "xn--bcher-beispiel-gsb.de"
    assert d.unicode_name == "bücher-beispiel.de"
    assert d.mailboxes[0].address.endswith("@xn--bcher-beispiel-gsb.de")


@pytest.mark.parametrize("bad", ["not a domain", "-bad-.com", "example.com.", "localhost", "a..b.com"])
def test_invalid_domain_names_are_refused(bad):
    raw = base()
    raw["domains"][0]["name"] = bad
    assert "coldmail:domains[0].name" in issues_of(raw)


def test_duplicate_domain_is_refused_even_when_spelled_differently():
    raw = base()
    raw["domains"][1]["name"] = "ALPHA-example.com"
    issue = issues_of(raw)["coldmail:domains[1].name"]
    assert "duplicate" in issue.message and "domains[0]" in issue.message


def test_unknown_server_names_the_known_ones():
    raw = base()
    raw["domains"][0]["server"] = "mx2"
    assert "mx1" in issues_of(raw)["coldmail:domains[0].server"].fix


def test_ip_index_out_of_range_is_refused():
    raw = base()
    raw["domains"][0]["ip"] = 3
    assert "0..2" in issues_of(raw)["coldmail:domains[0].ip"].message


def test_ip_is_required_when_the_server_has_floating_ips():
    raw = base()
    del raw["domains"][0]["ip"]
    assert "1..2" in issues_of(raw)["coldmail:domains[0].ip"].fix


@pytest.mark.parametrize("local_part,why", [
    ("Anna", "uppercase"), ("anna+x", "+"), ("anna..berg", "two dots"), (".anna", "start and end"),
    ("an na", "a-z"),
])
def test_local_parts_mailcow_rejects_are_refused(local_part, why):
    raw = base()
    raw["domains"][1]["mailboxes"] = [{"localPart": local_part}]
    issue = issues_of(raw)["coldmail:domains[1].mailboxes[0].localPart"]
    assert why in issue.message


def test_duplicate_addresses_from_a_pattern_are_refused():
    raw = base()
    raw["domains"][0]["mailboxes"] = {"count": 3, "pattern": "{first}"}
    issue = issues_of(raw)["coldmail:domains[0].mailboxes[2]"]
    assert "appears twice" in issue.message and "{n}" in issue.fix


def test_pattern_expands_names_to_lowercase_ascii_local_parts():
    raw = base()
    raw["domains"][0]["mailboxes"] = {"count": 2, "pattern": "{f}{last}{n}", "firstNames": ["Zoë"],
                                      "lastNames": ["Müller-Lüdenscheidt"]}
    boxes = cm.load(raw).domains[0].mailboxes
    assert [m.local_part for m in boxes] == ["zmullerludenscheidt1", "zmullerludenscheidt2"]
    assert boxes[0].name == "Zoë Müller-Lüdenscheidt"


def test_unknown_pattern_placeholder_is_refused():
    raw = base()
    raw["domains"][0]["mailboxes"] = {"count": 2, "pattern": "{first}.{surname}"}
    assert "coldmail:domains[0].mailboxes.pattern" in issues_of(raw)


def test_quota_sum_beyond_the_disk_is_refused():
    raw = base()
    raw["domains"][0]["mailboxQuotaMb"] = 40960
    raw["domains"][0]["mailboxes"] = {"count": 3}
    issue = issues_of(raw)["coldmail:servers[0].serverType"]
    assert "GiB" in issue.message and "mailboxQuotaMb" in issue.fix


def test_the_disk_check_counts_the_mailboxes_and_headroom_not_the_slack_of_the_steps():
    raw = base()
    # 12 x (3 + 2 headroom) x 1 GiB = 60 GiB fits the 64 GiB usable on a cx32, although Mailcow gets 8 GiB
    # per domain (the next step up with room to the advisory 5 mailboxes).
    boxes = {"count": 3, "pattern": "{first}{n}"}
    raw["domains"] = [{"name": f"d{i}-example.com", "ip": 0, "mailboxes": boxes} for i in range(12)]
    stack = cm.load(raw)
    assert stack.domain_sizing(stack.domains[0])["domain_quota_mb"] == 8192
    raw["domains"].append({"name": "d12-example.com", "ip": 0, "mailboxes": boxes})
    assert "coldmail:servers[0].serverType" in issues_of(raw)


def test_dkim_keys_under_2048_bits_are_refused_as_the_policy_pack_refuses_them():
    raw = base()
    raw["dkim"] = {"keySize": 1024, "allowWeakKeys": True}
    found = issues_of(raw)
    assert found["coldmail:dkim.keySize"].message == "1024-bit DKIM keys are weak (RFC 8301 asks for at least 2048)"
    assert found["coldmail:dkim.allowWeakKeys"].fix == "remove it"


def test_domain_equal_to_a_server_hostname_is_refused():
    raw = base()
    raw["domains"][0]["name"] = "mx1.ops-example.com"
    assert "domain_cannot_match_hostname" in issues_of(raw)["coldmail:domains[0].name"].message


def test_small_server_needs_both_skip_clamd_and_an_explicit_request():
    raw = base()
    raw["servers"][0]["serverType"] = "cx22"
    assert "coldmail:servers[0].serverType" in issues_of(raw)
    raw["servers"][0]["skipClamd"] = True
    assert "coldmail:servers[0].serverType" in issues_of(raw)
    raw["servers"][0]["allowSmallServer"] = True
    assert "coldmail:servers[0].serverType" not in issues_of(raw)


def test_unknown_key_suggests_the_close_one():
    raw = base()
    raw["domains"][0]["mailboxQuota"] = 10
    issue = issues_of(raw)["coldmail:domains[0].mailboxQuota"]
    assert "mailboxQuotaMb" in issue.fix


def test_hostname_needs_two_dots_for_mailcow():
    raw = base()
    raw["servers"][0]["hostname"] = "ops-example.com"
    assert "coldmail:servers[0].hostname" in issues_of(raw)


def test_api_key_with_characters_mailcow_strips_is_refused_and_the_fix_sets_it():
    raw = base()
    raw["servers"][0]["mailcowApiKey"] = "has spaces and $ymbols!"
    issue = issues_of(raw)["coldmail:servers[0].mailcowApiKey"]
    assert issue.fix == ("generate one: openssl rand -hex 24 | pulumi config set --secret --path "
                         "'coldmail:servers[0].mailcowApiKey'")
    assert "has spaces" not in str(issue)


def test_secure_api_key_in_a_stack_file_counts_as_set_without_being_readable():
    raw = base()
    raw["servers"][0]["mailcowApiKey"] = {"secure": "v1:abcdef"}
    server = cm.load(raw).servers[0]
    assert server.api_key is None and server.api_key_is_set


def test_api_key_never_shows_in_the_models_repr():
    raw = base()
    raw["servers"][0]["mailcowApiKey"] = "FAKEAPIKEY-0000-0000-0000-NOTREAL"
    stack = cm.load(raw)
    assert "FAKEAPIKEY" not in repr(stack) and "FAKEAPIKEY" not in str(stack.servers)


def sized(count, quota=1024, quotas=None, **limits):
    raw = base()
    raw["limits"] = limits
    raw["domains"][0]["mailboxQuotaMb"] = quota
    raw["domains"][0]["mailboxes"] = (
        [{"localPart": f"u{i}", "quotaMb": q} for i, q in enumerate(quotas)] if quotas
        else {"count": count, "pattern": "{first}{n}"})
    stack = cm.load(raw)
    return stack.domain_sizing(stack.domains[0])


def test_domain_sizing_rounds_up_to_room_for_the_advisory_size_plus_headroom():
    # 2 mailboxes, room to 5 + 2: 7 slots -> 8; 2 x 1024 + 5 x 1024 = 7168 MiB -> 8192.
    assert sized(2) == {"max_mailboxes": 8, "domain_quota_mb": 8192, "max_mailbox_quota_mb": 8192,
                        "default_mailbox_quota_mb": 8192}


def test_one_more_mailbox_or_one_changed_quota_leaves_the_limits_alone():
    assert sized(3) == sized(4) == sized(5) == sized(2)
    assert sized(0, quotas=[1024, 1024, 2048]) == sized(3)
    assert sized(0, quotas=[1024, 1024, 512]) == sized(3)


def test_sizing_steps_up_past_the_room_and_follows_the_headroom():
    assert sized(7, maxMailboxesPerDomain=7)["max_mailboxes"] == 16
    assert sized(7, maxMailboxesPerDomain=7)["domain_quota_mb"] == 16384
    assert sized(3, quota=2048)["domain_quota_mb"] == 16384
    assert sized(3, mailboxHeadroom=0, maxMailboxesPerDomain=3)["max_mailboxes"] == 4
    assert sized(3, mailboxHeadroom=0, maxMailboxesPerDomain=3)["domain_quota_mb"] == 4096


def test_display_names_mailcow_would_trim_are_refused_at_their_path():
    raw = base()
    raw["domains"][1]["mailboxes"][0]["name"] = "<Anna Berg>"
    issue = issues_of(raw)["coldmail:domains[1].mailboxes[0].name"]
    assert "'Anna Berg'" in issue.message and "'Anna Berg'" in issue.fix
    raw = base()
    raw["names"]["lastNames"] = ["Berg>", "Schulz"]
    assert "coldmail:names.lastNames[0]" in issues_of(raw)
    raw = base()
    raw["domains"][0]["mailboxes"]["firstNames"] = ["<Anna"]
    raw["domains"][0]["mailboxes"]["pattern"] = "{first}{n}"
    assert "coldmail:domains[0].mailboxes.firstNames[0]" in issues_of(raw)
    raw = base()
    raw["domains"][1]["mailboxes"][0]["name"] = "A <b> c"
    assert cm.validate(raw) == []


def test_relayhosts_are_adopted_only_on_request():
    assert cm.load(base()).servers[0].adopt_relayhosts is False
    raw = base()
    raw["servers"][0]["adoptRelayhosts"] = True
    assert cm.load(raw).servers[0].adopt_relayhosts is True
    raw["servers"][0]["adoptRelayhosts"] = "yes"
    assert "coldmail:servers[0].adoptRelayhosts" in issues_of(raw)


def test_default_ptr_names_follow_the_hostname_and_are_unique():
    stack = cm.load(base())
    assert stack.servers[0].ptr_names == ("mx1-ip1.ops-example.com", "mx1-ip2.ops-example.com")
    assert [ip.index for ip in stack.servers[0].sending_ips] == [0, 1, 2]


def test_duplicate_ptr_names_across_servers_are_refused():
    raw = base()
    second = copy.deepcopy(raw["servers"][0])
    second.update(name="mx2", hostname="mx2.ops-example.com", ptrNames=["mx1-ip1.ops-example.com", "mx2-b.ops-example.com"])
    raw["servers"].append(second)
    for d in raw["domains"]:
        d["server"] = "mx1"
    assert "coldmail:servers[1].ptrNames[0]" in issues_of(raw)


def test_warmup_plan_ramps_and_caps():
    stack = cm.load(base())
    w = stack.warmup
    assert [w.per_ip_limit(d) for d in (0, 7, 14, 21, 28, 100)] == [20, 40, 80, 160, 300, 300]


def test_rollout_batches_deploy_domains_in_config_order():
    raw = base()
    raw["rollout"] = {"batchSize": 1, "stage": 1}
    stack = cm.load(raw)
    assert [d.name for d in stack.rollout.deployed(stack.domains)] == ["alpha-example.com"]
