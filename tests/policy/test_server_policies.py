"""Server rules: memory, firewall, FCrDNS and relay HELO."""

import pytest
from pulumi_policy import proxy as sdk_proxy

from coldmail.model import tokens
from policy import servers
from tests.policy.policy_helpers import FLOATING, PTR1, Spec, check, check_stack


@pytest.mark.parametrize("stype", ["cx22", "cpx21", "cax11"])
def test_four_gb_server_is_below_mandatory_minimum_with_bigger_type_suggested(stype):
    found = check(servers.server_type_min_memory, tokens.HCLOUD_SERVER, {"serverType": stype}, name="mx1-server")
    assert len(found) == 1
    assert "mx1-server" in found[0] and stype in found[0] and "4 GB" in found[0] and "such as" in found[0]


def test_eight_gb_server_passes_both_memory_rules():
    for policy in (servers.server_type_min_memory, servers.server_type_recommended_memory):
        assert check(policy, tokens.HCLOUD_SERVER, {"serverType": "cx32"}) == []


def test_six_to_eight_gb_gap_is_only_advisory():
    # cpx52 has 24 GB; there is no 6 GB type, so check the advisory rule with a raised recommendation.
    assert check(servers.server_type_min_memory, tokens.HCLOUD_SERVER, {"serverType": "cx32"}) == []
    found = check(servers.server_type_recommended_memory, tokens.HCLOUD_SERVER, {"serverType": "cx32"},
                  config={"recommendedMemoryGb": 16})
    assert len(found) == 1 and "recommended 16 GB" in found[0]
    assert servers.server_type_recommended_memory.enforcement_level.value == "advisory"
    assert servers.server_type_min_memory.enforcement_level.value == "mandatory"


def test_unknown_or_unlisted_server_type_is_not_judged():
    assert check(servers.server_type_min_memory, tokens.HCLOUD_SERVER, {"serverType": sdk_proxy.UNKNOWN_STRING_VALUE}) == []
    assert check(servers.server_type_min_memory, tokens.HCLOUD_SERVER, {"serverType": "zz99"}) == []


def rule(port, sources=("0.0.0.0/0", "::/0"), protocol="tcp", direction="in"):
    return {"direction": direction, "protocol": protocol, "port": str(port), "sourceIps": list(sources)}


MAIL_RULES = [rule(p) for p in (25, 465, 587, 143, 993)]


def test_firewall_with_mail_ports_and_admin_ssh_passes_all_firewall_rules():
    props = {"rules": MAIL_RULES + [rule(22, ["203.0.113.0/28"]), rule(443), rule(80)]}
    for policy in (servers.firewall_mail_ports_open, servers.firewall_no_internal_ports, servers.firewall_ssh_restricted):
        assert check(policy, tokens.FIREWALL, props) == [], policy.name


def test_firewall_missing_submission_and_imaps_lists_the_missing_ports():
    props = {"rules": [rule(25), rule(465), rule(143)]}
    found = check(servers.firewall_mail_ports_open, tokens.FIREWALL, props, name="mx1-firewall")
    assert len(found) == 1 and "587, 993" in found[0] and "mx1-firewall" in found[0]


def test_mail_port_open_only_to_admin_network_does_not_count_as_open():
    props = {"rules": [r for r in MAIL_RULES if r["port"] != "25"] + [rule(25, ["203.0.113.0/28"])]}
    found = check(servers.firewall_mail_ports_open, tokens.FIREWALL, props)
    assert len(found) == 1 and "TCP 25 " in found[0]


def test_port_range_covers_mail_ports():
    assert check(servers.firewall_mail_ports_open, tokens.FIREWALL, {"rules": [rule("1-1000")]}) == []


@pytest.mark.parametrize("port,hit", [("3306", "3306"), ("6379", "6379"), ("8080", "8080"), ("11334", "11334"),
                                      ("2375-2376", "2375, 2376"), ("any", "2375"), ("19991", "19991"),
                                      ("13306", "13306"), ("7654", "7654"), ("7000-8000", "7654")])
def test_firewall_opening_internal_port_is_mandatory_violation(port, hit):
    props = {"rules": MAIL_RULES + [rule(port, ["203.0.113.0/28"])]}
    found = check(servers.firewall_no_internal_ports, tokens.FIREWALL, props, name="mx1-firewall")
    assert len(found) == 1 and hit in found[0] and "Remove the rule" in found[0]


def test_outbound_rule_on_internal_port_is_not_an_exposure():
    props = {"rules": MAIL_RULES + [rule(3306, direction="out")]}
    assert check(servers.firewall_no_internal_ports, tokens.FIREWALL, props) == []


def test_ssh_open_to_the_world_is_mandatory():
    found = check(servers.firewall_ssh_restricted, tokens.FIREWALL, {"rules": MAIL_RULES + [rule(22, ["::/0"])]})
    assert len(found) == 1 and "::/0" in found[0] and "adminCidrs" in found[0]
    assert servers.firewall_ssh_restricted.enforcement_level.value == "mandatory"


@pytest.mark.parametrize("ssh_rules,whole", [
    ([rule(22, ["0.0.0.0/1", "128.0.0.0/1"])], "IPv4"),
    ([rule(22, ["0::/0"])], "IPv6"),
    ([rule(22, ["203.0.113.5/0"])], "IPv4"),
    ([rule(22, ["::/1", "8000::/1"])], "IPv6"),
    ([rule(22, ["0.0.0.0/1"]), rule("20-30", ["128.0.0.0/1"]), rule("any", ["203.0.113.0/28"])], "IPv4"),
    ([rule(22, ["0.0.0.0/1", "2000::/4"]), rule(22, ["128.0.0.0/1", "3000::/4"])], "IPv4 and IPv6"),
])
def test_ssh_open_to_the_whole_internet_however_written_is_caught_once(ssh_rules, whole):
    found = check(servers.firewall_ssh_restricted, tokens.FIREWALL, {"rules": MAIL_RULES + ssh_rules},
                  name="mx1-firewall")
    assert len(found) == 1
    assert f"from the whole {whole} internet" in found[0] and "mx1-firewall" in found[0] and "adminCidrs" in found[0]


@pytest.mark.parametrize("ssh_rules", [
    [rule(22, ["0.0.0.0/1"])],
    [rule(22, ["0.0.0.0/1"]), rule(23, ["128.0.0.0/1"])],
    [rule(22, ["0.0.0.0/1"]), rule(22, ["128.0.0.0/1"], protocol="udp")],
    [rule(22, ["0.0.0.0/1"]), rule(22, ["128.0.0.0/1"], direction="out")],
    [rule(22, ["203.0.113.0/28", "2001:db8::/48"])],
])
def test_ssh_open_to_part_of_the_internet_only_passes(ssh_rules):
    assert check(servers.firewall_ssh_restricted, tokens.FIREWALL, {"rules": MAIL_RULES + ssh_rules}) == []


def test_mail_port_open_to_the_internet_through_split_networks_and_rules_counts_as_open():
    props = {"rules": [r for r in MAIL_RULES if r["port"] != "25"]
             + [rule(25, ["0.0.0.0/1"]), rule("20-30", ["128.0.0.0/1", "::/0"])]}
    assert check(servers.firewall_mail_ports_open, tokens.FIREWALL, props) == []
    props = {"rules": [rule(p, ["203.0.113.5/0"]) for p in (25, 465, 587, 143, 993)]}
    assert check(servers.firewall_mail_ports_open, tokens.FIREWALL, props) == []


def test_mail_port_open_over_ipv6_only_does_not_count_as_open():
    props = {"rules": [r for r in MAIL_RULES if r["port"] != "25"] + [rule(25, ["::/0"])]}
    found = check(servers.firewall_mail_ports_open, tokens.FIREWALL, props)
    assert len(found) == 1 and "TCP 25 " in found[0] and "IPv4" in found[0]


def test_unknown_firewall_rules_are_not_judged():
    props = {"rules": sdk_proxy.UNKNOWN_ARRAY_VALUE}
    assert check(servers.firewall_mail_ports_open, tokens.FIREWALL, props) == []


# --- FCrDNS -------------------------------------------------------------------------------------

def test_good_stack_has_complete_fcrdns_and_matching_helo(stack):
    assert check_stack(servers.fcrdns_complete, stack.values()) == []
    assert check_stack(servers.relay_helo_matches_ptr, stack.values()) == []


def test_floating_ip_without_rdns_is_reported_on_the_ip(stack):
    del stack["mx1-rdns-1"]
    found = check_stack(servers.fcrdns_complete, stack.values())
    assert [n for _, n in found] == ["mx1-fip-1"] and FLOATING in found[0][0]


def test_ptr_name_without_a_record_is_reported_on_the_rdns(stack):
    del stack["mx1-dns-ptr-1"]
    found = check_stack(servers.fcrdns_complete, stack.values())
    assert [n for _, n in found] == ["mx1-rdns-1"] and PTR1 in found[0][0]


def test_a_record_to_another_ip_breaks_fcrdns(stack):
    stack["mx1-dns-ptr-1"].props["content"] = "198.18.9.9"
    assert [n for _, n in check_stack(servers.fcrdns_complete, stack.values())] == ["mx1-rdns-1"]


def test_proxied_a_record_breaks_fcrdns(stack):
    stack["mx1-dns-host"].props["proxied"] = True
    found = check_stack(servers.fcrdns_complete, stack.values())
    assert [n for _, n in found] == ["mx1-rdns-0"] and "proxied" in found[0][0]


def test_unknown_ips_at_preview_are_linked_through_dependencies(stack):
    for key in ("mx1-fip-1",):
        stack[key].props["ipAddress"] = sdk_proxy.UNKNOWN_STRING_VALUE
    stack["mx1-rdns-1"].props["ipAddress"] = sdk_proxy.UNKNOWN_STRING_VALUE
    stack["mx1-dns-ptr-1"].props["content"] = sdk_proxy.UNKNOWN_STRING_VALUE
    assert check_stack(servers.fcrdns_complete, stack.values()) == []
    del stack["mx1-dns-ptr-1"]
    assert [n for _, n in check_stack(servers.fcrdns_complete, stack.values())] == ["mx1-rdns-1"]


def test_relay_helo_different_from_ptr_is_reported_with_the_ptr_name(stack):
    stack["mx1-relayhost-1"].props["helo_name"] = "mx1.acme-mailops.com"
    found = check_stack(servers.relay_helo_matches_ptr, stack.values())
    assert [n for _, n in found] == ["mx1-relayhost-1"] and f"to {PTR1}" in found[0][0]


def test_relay_ip_without_rdns_is_reported(stack):
    del stack["mx1-rdns-1"]
    found = check_stack(servers.relay_helo_matches_ptr, stack.values())
    assert [n for _, n in found] == ["mx1-relayhost-1"] and "no reverse DNS" in found[0][0]


def test_ipv6_rdns_does_not_stand_in_for_the_ipv4_ptr(stack):
    del stack["mx1-rdns-0"]
    stack["v6"] = Spec(tokens.RDNS, "mx1-rdns-v6", {"ipAddress": "2001:db8::1", "dnsPtr": "mx1.acme-mailops.com"},
                   deps={"serverId": ["mx1-server"]})
    assert [n for _, n in check_stack(servers.fcrdns_complete, stack.values())] == ["mx1-server"]


# --- secrets in the stack config ------------------------------------------------------------------

def test_each_credential_in_clear_in_the_stack_config_is_reported_with_its_exact_fix():
    props = {"plaintextSecrets": ["coldmail:sshPrivateKey", "coldmail:servers[1].mailcowApiKey", "hcloud:token"]}
    found = check(servers.stack_config_secrets_encrypted, tokens.MAIL_SERVER, props, name="mx1")
    assert len(found) == 3
    assert "coldmail:sshPrivateKey is in plain text in Pulumi.prod.yaml" in found[0]
    assert "pulumi config set --stack prod --secret coldmail:sshPrivateKey < ~/.ssh/coldmail_ed25519" in found[0]
    assert ("openssl rand -hex 24 | pulumi config set --stack prod --secret --path "
            "'coldmail:servers[1].mailcowApiKey'") in found[1]
    assert "pulumi config set --stack prod --secret hcloud:token" in found[2]
    assert servers.stack_config_secrets_encrypted.enforcement_level.value == "mandatory"


def test_stack_config_with_every_credential_encrypted_passes():
    assert check(servers.stack_config_secrets_encrypted, tokens.MAIL_SERVER, {"plaintextSecrets": []}) == []
    assert check(servers.stack_config_secrets_encrypted, tokens.MAIL_SERVER, {}) == []
    assert check(servers.stack_config_secrets_encrypted, tokens.HCLOUD_SERVER,
                 {"plaintextSecrets": ["coldmail:sshPrivateKey"]}) == []
