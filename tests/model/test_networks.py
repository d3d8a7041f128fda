"""What counts as open to the whole internet, however the networks are written."""

import ipaddress

import pytest

from coldmail.model.networks import internet_versions, parse_network


@pytest.mark.parametrize("cidrs,versions", [
    (["0.0.0.0/0"], {4}),
    (["::/0"], {6}),
    (["0::/0"], {6}),
    (["0.0.0.0/0", "::/0"], {4, 6}),
    (["0.0.0.0/1", "128.0.0.0/1"], {4}),
    (["203.0.113.5/0"], {4}),
    (["::/1", "8000::/1"], {6}),
    (["2000::/3"], {6}),
    (["::/1"], {6}),
    (["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2", "2000::/4", "3000::/4"], {4, 6}),
    ([" 0.0.0.0/0 "], {4}),
])
def test_networks_covering_the_whole_internet_are_caught_however_written(cidrs, versions):
    assert internet_versions(cidrs) == frozenset(versions)


def test_everything_but_private_and_reserved_ranges_is_still_the_whole_internet():
    # 0.0.0.0/0 less 10.0.0.0/8, written out by hand.
    cidrs = ["0.0.0.0/5", "8.0.0.0/7", "11.0.0.0/8", "12.0.0.0/6", "16.0.0.0/4", "32.0.0.0/3", "64.0.0.0/2",
             "128.0.0.0/1"]
    assert internet_versions(cidrs) == frozenset({4})


@pytest.mark.parametrize("cidrs", [
    [],
    ["203.0.113.0/28", "198.51.100.7/32", "2001:db8::/64"],
    ["0.0.0.0/1"],
    ["128.0.0.0/1", "8000::/1"],
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
    ["::ffff:0.0.0.0/96"],
    ["any", "", "0.0.0.0/33", "not-a-network"],
])
def test_networks_that_leave_part_of_the_internet_out_are_not_open_to_it(cidrs):
    assert internet_versions(cidrs) == frozenset()


def test_all_of_ipv4_but_one_public_block_is_not_the_whole_internet():
    cidrs = [str(n) for n in ipaddress.ip_network("0.0.0.0/0").address_exclude(ipaddress.ip_network("8.8.8.0/24"))]
    assert len(cidrs) == 24
    assert internet_versions(cidrs) == frozenset()
    assert internet_versions(cidrs + ["8.8.8.0/25", "8.8.8.128/25"]) == frozenset({4})


def test_garbage_among_networks_is_ignored():
    assert internet_versions([None, 42, "any", "0.0.0.0/0"]) == frozenset({4})


def test_parse_network_accepts_host_bits_and_refuses_what_is_no_network():
    assert parse_network("203.0.113.5/24") == ipaddress.ip_network("203.0.113.0/24")
    assert parse_network("2001:db8::1") == ipaddress.ip_network("2001:db8::1/128")
    assert parse_network("any") is None
    assert parse_network(None) is None
