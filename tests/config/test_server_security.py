"""Server keys that decide who can reach the server and what runs on it: each refused value names its path and fix."""

import pytest

from coldmail import model as cm

from test_config import base, issues_of

S = "coldmail:servers[0]"


def with_server(**overrides):
    raw = base()
    raw["servers"][0].update(overrides)
    return raw


@pytest.mark.parametrize("cidrs", [
    ["0.0.0.0/0"], ["::/0"], ["0::/0"], ["203.0.113.5/0"], ["0.0.0.0/1", "128.0.0.0/1"],
    ["2000::/4", "3000::/4"],
    # Everything but RFC 6890's special-purpose blocks is still everyone on the internet.
    ["1.0.0.0/8", "2.0.0.0/7", "4.0.0.0/6", "8.0.0.0/7", "11.0.0.0/8", "12.0.0.0/6", "16.0.0.0/4", "32.0.0.0/3",
     "64.0.0.0/3", "96.0.0.0/4", "112.0.0.0/5", "120.0.0.0/6", "124.0.0.0/7", "126.0.0.0/8", "128.0.0.0/2",
     "192.0.0.0/3"],
])
def test_admin_cidrs_covering_the_internet_are_refused_with_the_opt_in_named(cidrs):
    found = issues_of(with_server(adminCidrs=cidrs))
    issue = found[f"{S}.adminCidrs"]
    assert "covers the whole internet" in issue.message
    assert "allowSshFromInternet: true" in issue.fix and "docs/security.md" in issue.fix


@pytest.mark.parametrize("cidrs", [["0.0.0.0/1"], ["203.0.113.0/28", "2001:db8::/32"], ["2000::/4"]])
def test_admin_cidrs_short_of_the_whole_internet_are_accepted(cidrs):
    assert f"{S}.adminCidrs" not in issues_of(with_server(adminCidrs=cidrs))


def test_empty_admin_cidrs_are_an_error_because_nothing_could_reach_ssh():
    issue = issues_of(with_server(adminCidrs=[]))[f"{S}.adminCidrs"]
    assert "nothing could reach SSH" in issue.message


def test_ssh_from_anywhere_needs_the_opt_in_and_then_a_separate_api_list():
    found = issues_of(with_server(adminCidrs=["0.0.0.0/0", "::/0"], allowSshFromInternet=True))
    assert f"{S}.adminCidrs" not in found
    assert "never opened to everyone" in found[f"{S}.apiCidrs"].message
    server = cm.load(with_server(adminCidrs=["0.0.0.0/0"], allowSshFromInternet=True,
                                 apiCidrs=["198.51.100.7/32"])).servers[0]
    assert server.admin_cidrs == ("0.0.0.0/0",) and server.api_cidrs == ("198.51.100.7/32",)
    assert server.ssh_from_internet is True


def test_api_cidrs_default_to_admin_cidrs_and_never_cover_the_internet():
    assert cm.load(base()).servers[0].api_cidrs == ("203.0.113.0/28",)
    for bad in (["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"]):
        issue = issues_of(with_server(apiCidrs=bad, allowSshFromInternet=True))[f"{S}.apiCidrs"]
        assert "covers the whole internet" in issue.message
    assert "could not reach the API" in issues_of(with_server(apiCidrs=[]))[f"{S}.apiCidrs"].message
    assert issues_of(with_server(apiCidrs=["nope"]))[f"{S}.apiCidrs[0]"].message == "'nope' is not an IP network"


def test_admin_ui_allow_list_is_optional_but_never_empty_or_the_world():
    assert cm.load(base()).servers[0].admin_ui_cidrs == ()
    assert cm.load(with_server(adminUiCidrs=["203.0.113.4/32"])).servers[0].admin_ui_cidrs == ("203.0.113.4/32",)
    for bad in ([], ["::/0", "0.0.0.0/0"]):
        assert "no allow-list" in issues_of(with_server(adminUiCidrs=bad))[f"{S}.adminUiCidrs"].message


@pytest.mark.parametrize("tz", ["Europe/Berlin;id>/tmp/pwned;", "Europe/Berlin $(id)", "Mars/Olympus", "../etc/passwd",
                                "Europe/Nowhere"])
def test_timezone_must_be_a_zoneinfo_name(tz):
    issue = issues_of(with_server(timezone=tz))[f"{S}.timezone"]
    assert "IANA time zone" in issue.message and "Europe/Berlin" in issue.fix


@pytest.mark.parametrize("tz", ["UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Europe/Berlin"])
def test_real_time_zones_are_accepted(tz):
    assert cm.load(with_server(timezone=tz)).servers[0].timezone == tz


def test_known_release_tag_resolves_to_its_upstream_commit():
    server = cm.load(base()).servers[0]
    assert (server.mailcow_version, server.mailcow_commit) == ("2026-07a", "489db905122d20487e29c9a8438b311c403442ab")
    assert cm.load(with_server(mailcowVersion="2026-05c")).servers[0].mailcow_commit == \
        "2ac4b1deaee50e1284d644cecc16dcb0b37e67e2"


def test_unknown_tag_needs_its_commit_with_the_lookup_command():
    issue = issues_of(with_server(mailcowVersion="2027-01"))[f"{S}.mailcowCommit"]
    assert "git ls-remote https://github.com/mailcow/mailcow-dockerized 'refs/tags/2027-01'" in issue.fix
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert cm.load(with_server(mailcowVersion="2027-01", mailcowCommit=sha)).servers[0].mailcow_commit == sha


def test_commit_that_is_not_the_tags_or_not_a_full_id_is_refused():
    wrong = issues_of(with_server(mailcowCommit="96a70652c320d1c76979610df13c71f363ecc2de"))[f"{S}.mailcowCommit"]
    assert "is not the commit of release 2026-07a" in wrong.message
    short = issues_of(with_server(mailcowVersion="2027-01", mailcowCommit="489db90"))[f"{S}.mailcowCommit"]
    assert "40 lowercase hex digits" in short.message


def test_image_digests_are_checked_per_pinned_service():
    digest = "sha256:" + "ab" * 32
    server = cm.load(with_server(imageDigests={"memcached-mailcow": digest})).servers[0]
    assert server.image_digests == (("memcached-mailcow", digest),)
    found = issues_of(with_server(imageDigests={"ofelia-mailcow": "latest", "nginx-mailcow": digest}))
    assert "docker buildx imagetools inspect mcuadros/ofelia:0.3.21" in found[f"{S}.imageDigests.ofelia-mailcow"].fix
    assert found[f"{S}.imageDigests.nginx-mailcow"].message == "unknown key"


def test_pop3_and_sieve_are_off_unless_enabled():
    server = cm.load(base()).servers[0]
    assert (server.pop3, server.sieve) == (False, False)
    server = cm.load(with_server(pop3=True, sieve=True)).servers[0]
    assert (server.pop3, server.sieve) == (True, True)
