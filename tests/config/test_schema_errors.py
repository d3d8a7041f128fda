"""Mistakes the schema must catch, each once, with its path and fix, and no knock-on errors."""

import copy
import os

import pytest

from coldmail import model as cm
from coldmail.model.stackfile import raw_from_stack_file
from tests.support.stacks import raw_stack, server

PROD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "Pulumi.prod.yaml")
PATTERN_FIX = "use {first}, {last}, {f}, {l} and {n} joined by . _ or -, e.g. `{first}.{last}`"


def prod():
    return copy.deepcopy(raw_from_stack_file(PROD))


def issues(raw):
    return [(i.path, i.message, i.fix) for i in cm.validate(raw)]


def with_mailboxes(mailboxes, **extra):
    return raw_stack({"name": "alpha-example.com", "ip": 1, "mailboxes": mailboxes},
                     names={"firstNames": ["Anna", "Jonas"], "lastNames": ["Berg"]}, **extra)


@pytest.mark.parametrize("pattern, message", [
    ("{first}+{n}", "'{first}+{n}' gives local parts like 'anna+1', and 'anna+1' contains `+`, which Mailcow's API "
                    "path and Postfix's recipient delimiter break"),
    ("{first}..{last}", "'{first}..{last}' gives local parts like 'anna..berg', and 'anna..berg' has two dots in a row"),
    ("Sales{n}", "'Sales{n}' gives local parts like 'Sales1', and 'Sales1' has uppercase letters; Mailcow lowercases "
                 "local parts, so the address would not match"),
    ("{first}.", "'{first}.' gives local parts like 'anna.', and 'anna.' must be 1-64 of a-z 0-9 . _ - and start and "
                 "end with a letter or digit"),
    ("{first!r}", "'{first!r}' uses {first!r}; only {first}, {last}, {f}, {l} and {n} are allowed, with nothing "
                  "after the name"),
    ("{first:>70}", "'{first:>70}' uses {first:>70}; only {first}, {last}, {f}, {l} and {n} are allowed, with nothing "
                    "after the name"),
    ("{first.upper}", "'{first.upper}' uses {first.upper}; only {first}, {last}, {f}, {l} and {n} are allowed, with "
                      "nothing after the name"),
    ("{0}", "'{0}' uses {0}; only {first}, {last}, {f}, {l} and {n} are allowed, with nothing after the name"),
    ("sales", "'sales' has no placeholder, so every mailbox would get the same address"),
    ("{first", "'{first' is not a pattern (expected '}' before end of string); write a literal brace as {{ or }}"),
])
def test_a_pattern_is_held_to_the_rule_of_a_written_local_part(pattern, message):
    assert issues(with_mailboxes({"count": 2, "pattern": pattern})) == [
        ("coldmail:domains[0].mailboxes.pattern", message, PATTERN_FIX)]


def test_a_pattern_of_documented_placeholders_gives_lowercase_ascii_local_parts():
    stack = cm.load(with_mailboxes({"count": 3, "pattern": "{f}_{last}-{n}", "firstNames": ["Zoë", "Émile"],
                                    "lastNames": ["Müller"]}))
    assert [m.local_part for m in stack.domains[0].mailboxes] == ["z_muller-1", "e_muller-2", "z_muller-3"]


def test_a_name_that_folds_to_nothing_is_blamed_at_its_own_path():
    raw = with_mailboxes({"count": 2, "firstNames": ["Иван", "Anna"], "lastNames": ["Berg"]})
    fix = ("write the name in Latin letters (a transliteration such as `Ivan` for `Иван`), or list the mailboxes "
           "with an explicit `localPart`")
    assert issues(raw) == [("coldmail:domains[0].mailboxes.firstNames[0]",
                            "'Иван' has no letter a-z or digit once folded to ASCII: mailbox 1 would be '.berg', and "
                            "'.berg' must be 1-64 of a-z 0-9 . _ - and start and end with a letter or digit", fix)]
    raw = with_mailboxes({"count": 1, "pattern": "{last}"})
    raw["names"]["lastNames"] = ["Петров"]
    assert [i[0] for i in issues(raw)] == ["coldmail:names.lastNames[0]"]


def test_every_field_of_an_entry_with_a_bad_name_is_still_checked():
    raw = prod()
    raw["domains"][0].update(name="not a domain", ip=9, mailboxes={"count": 0})
    assert issues(raw) == [
        ("coldmail:domains[0].name",
         "domain 'not a domain' is invalid: Codepoint U+0020 at position 4 of 'not a domain' not allowed",
         "write the bare domain you send from, such as acme-mail.com: no spaces, no trailing dot"),
        ("coldmail:domains[0].ip", "must be 0..3, got 9", "server 'mx1' has IPs 0..3 (0 = primary, 1..N floating)"),
        ("coldmail:domains[0].mailboxes.count", "must be 1..500, got 0",
         "set how many mailboxes this domain gets, 1..500"),
    ]


@pytest.mark.parametrize("value", [-2, "three", 2.5])
def test_a_bad_floating_ip_count_is_one_error_not_one_per_domain(value):
    raw = prod()
    raw["servers"][0]["floatingIps"] = value
    raw["servers"][0]["ptrNames"] = ["a.acme-mailops.com", "b.acme-mailops.com", "c.acme-mailops.com"]
    assert [i[0] for i in issues(raw)] == ["coldmail:servers[0].floatingIps"]


def test_an_empty_server_list_names_coldmail_servers_and_how_to_add_one():
    raw = prod()
    raw["servers"] = []
    assert issues(raw) == [("coldmail:servers", "lists no server",
                            "add a server with `name`, `hostname`, `sshPublicKey` and `adminCidrs` (Pulumi.prod.yaml "
                            "has one), or run `coldmail server add`")]


def test_names_that_are_no_list_are_one_error_not_one_per_domain():
    raw = prod()
    raw["names"]["firstNames"] = "Anna"
    assert issues(raw) == [("coldmail:names.firstNames", "must be a list, got str", "write it as a YAML list")]


@pytest.mark.parametrize("ptr, other", [("mx1.acme-mailops.com", "servers[0].hostname"),
                                        ("mx2.acme-mailops.com", "servers[1].hostname")])
def test_a_ptr_name_equal_to_a_servers_hostname_is_refused(ptr, other):
    raw = prod()
    second = dict(raw["servers"][0], name="mx2", hostname="mx2.acme-mailops.com", floatingIps=0)
    raw["servers"].append(second)
    raw["servers"][0]["ptrNames"] = [ptr, "mx1-b.acme-mailops.com", "mx1-c.acme-mailops.com"]
    for d in raw["domains"]:
        d["server"] = "mx1"
    assert issues(raw) == [("coldmail:servers[0].ptrNames[0]", f"PTR name {ptr!r} is also used by {other}",
                            "give every IP its own PTR name (FCrDNS needs a 1:1 mapping)")]


def test_dkim_keys_below_2048_bits_and_the_old_opt_in_are_refused():
    raw = prod()
    raw["dkim"] = {"selector": "dkim", "keySize": 1024, "allowWeakKeys": True}
    assert issues(raw) == [
        ("coldmail:dkim.allowWeakKeys", "is no longer supported: keys under 2048 bits are refused (RFC 8301), here "
         "and by the policy pack's mandatory dkim-key-size rule", "remove it"),
        ("coldmail:dkim.keySize", "1024-bit DKIM keys are weak (RFC 8301 asks for at least 2048)", "use 2048"),
    ]
    raw["dkim"] = {"keySize": 3072}
    assert cm.load(raw).dkim.key_size == 3072
    raw["dkim"] = {"keySize": 1536}
    assert issues(raw) == [("coldmail:dkim.keySize", "must be one of 2048, 3072, 4096, got 1536", "use 2048")]


def test_more_mailboxes_than_the_per_domain_maximum_are_refused_at_the_domains_path():
    fix = ("spread them over more domains (one complaint spike burns every mailbox of a domain), or raise "
           "`coldmail:limits.maxMailboxesPerDomain`")
    raw = prod()
    raw["domains"][0]["mailboxes"] = {"count": 6}
    raw["domains"][1]["mailboxes"] = [{"localPart": f"user{k}"} for k in range(6)]
    assert issues(raw) == [
        ("coldmail:domains[0].mailboxes.count", "6 mailboxes, more than coldmail:limits.maxMailboxesPerDomain (5)", fix),
        ("coldmail:domains[1].mailboxes", "6 mailboxes, more than coldmail:limits.maxMailboxesPerDomain (5)", fix),
    ]
    raw["limits"]["maxMailboxesPerDomain"] = 6
    assert issues(raw) == []


def test_a_warmup_that_never_grows_is_refused():
    raw = prod()
    raw["warmup"]["growthFactor"] = 1.0
    assert issues(raw) == [("coldmail:warmup.growthFactor",
                            "1.0 is a ramp that never grows: the IPs would stay at the start volume", "use 1.5-2.0")]
    raw["warmup"]["growthFactor"] = 1.5
    assert issues(raw) == []


def test_the_fix_for_a_bad_domain_suggests_a_domain_not_a_host_name():
    raw = raw_stack({"name": "example.com.", "ip": 1, "mailboxes": {"count": 1, "pattern": "user{n}"}},
                    servers=[server()])
    ((path, message, fix),) = issues(raw)
    assert (path, message) == ("coldmail:domains[0].name", "domain 'example.com.' is invalid: a trailing dot is not allowed")
    assert "mx1." not in fix and "acme-mail.com" in fix
