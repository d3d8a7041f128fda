"""Argument parsing: defaults, required arguments, usage errors as exit 2 (and as a JSON document)."""

import json

import pytest

from coldmail import cli
from coldmail.cli.output import check_document

from tests.cli.clikit import run_cli


def parse(*argv):
    return cli.build_parser().parse_args(list(argv))


def test_parallel_defaults_to_four_for_the_cloudflare_rate_limit():
    assert parse("up", "--stack", "prod").parallel == 4
    assert parse("preview", "--stack", "prod", "--parallel", "8").parallel == 8


def test_common_options_are_accepted_after_every_subcommand():
    a = parse("domain", "add", "new.example", "--stack", "prod", "--json", "--ip", "2", "--mailboxes", "5",
              "--backend", "s3://bucket", "--yes")
    assert (a.command, a.name, a.ip, a.mailboxes, a.backend, a.json, a.yes) == (
        "domain add", "new.example", 2, 5, "s3://bucket", True, True)
    a = parse("mailbox", "add", "a@x.example", "b@x.example", "--name", "Anna Berg", "--stack", "prod")
    assert a.addresses == ["a@x.example", "b@x.example"] and a.name == "Anna Berg"
    a = parse("server", "add", "mx2", "--hostname", "mx2.x.example", "--floating-ips", "2", "--ssh-public-key",
              "ssh-ed25519 AAAA", "--admin-cidr", "203.0.113.1/32", "--admin-cidr", "198.51.100.0/24")
    assert a.admin_cidrs == ["203.0.113.1/32", "198.51.100.0/24"] and a.floating_ips == 2
    a = parse("credentials", "export", "--format", "json", "--out", "f.json", "--force")
    assert (a.command, a.format, a.out, a.force, a.show_passwords) == ("credentials export", "json", "f.json", True, False)
    assert parse("preview", "--stack", "prod", "--expect-no-changes").expect_no_changes is True


@pytest.mark.parametrize("argv, message", [
    (["up", "--parallel", "0"], "argument --parallel: 0 is out of range: use 1..64"),
    (["preview", "--parallel", "-3"], "argument --parallel: -3 is out of range: use 1..64"),
    (["refresh", "--parallel", "many"], "argument --parallel: 'many' is not a whole number"),
])
def test_numeric_flags_out_of_range_are_usage_errors(project, argv, message):
    r = run_cli(argv + ["--stack", "prod", "--json"], project)
    assert r.code == 2
    (err,) = r.doc["errors"]
    assert err["kind"] == "usage" and err["message"].endswith(message)


def test_unknown_command_exits_2_with_usage_on_stderr(project):
    r = run_cli(["frobnicate"], project)
    assert r.code == 2 and r.stdout == "" and "invalid choice" in r.stderr


def test_usage_error_under_json_is_one_valid_document(project):
    r = run_cli(["server", "add", "mx2", "--json", "--stack", "prod"], project)
    assert r.code == 2
    doc = json.loads(r.stdout)
    assert check_document(doc) == []
    assert doc["command"] == "server add" and doc["ok"] is False and doc["errors"][0]["kind"] == "usage"
    assert "--hostname" in doc["errors"][0]["message"]


def test_missing_stack_is_bad_input_and_env_default_is_used(project):
    r = run_cli(["plan", "--json"], project)
    assert r.code == 2 and "--stack is required" in r.doc["errors"][0]["message"]
    from tests.cli.clikit import PASSPHRASE_ENV
    r = run_cli(["plan", "--json"], project, env=dict(PASSPHRASE_ENV, COLDMAIL_STACK="prod"))
    assert r.code == 0 and r.doc["stack"] == "prod"


def test_help_exits_0():
    assert cli.main(["--help"]) == 0
