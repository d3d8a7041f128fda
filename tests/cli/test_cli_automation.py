"""The Automation API path with an injected PulumiCommand: the exact CLI calls, events, exit codes."""

import io
import os
import shutil
import stat

import pytest

from tests.cli.clikit import PASSPHRASE_ENV, run_cli
from tests.cli.fake_pulumi import FakePulumiCommand, strip_event_log


def ops_calls(fake):
    return [strip_event_log(c) for c in fake.calls if c[0] in ("preview", "up", "destroy", "refresh")]


def test_up_with_yes_runs_exactly_one_up_with_parallel_4_and_streams_progress(project):
    fake = FakePulumiCommand(changes={"create": 3})
    r = run_cli(["up", "--stack", "prod", "--yes", "--json"], project, fake)
    assert r.code == 0, r.stdout + r.stderr
    assert fake.calls[0] == ["stack", "select", "--stack", "prod"]
    assert ops_calls(fake) == [["up", "--yes", "--skip-preview", "--policy-pack", os.path.join(project, "policy"),
                                "--parallel", "4", "--exec-kind", "auto.local", "--event-log", "<event-log>",
                                "--stack", "prod"]]
    assert ["stack", "output", "--json", "--show-secrets", "--stack", "prod"] in fake.calls
    assert set(fake.cwds) == {project}
    assert "up [3/3]" in r.stderr and "done     cloudflare:index/dnsRecord:DnsRecord rec-create-2" in r.stderr
    res = r.doc["result"]
    assert res["changes"] == {"create": 3} and res["applied"] is True and res["has_changes"] is True
    steps = " ".join(res["next_steps"])
    for needle in ("DNS", "Port 25", "Hetzner", "PTR", "Warmup: start after the 24-48 h new-domain window",
                   "coldmail credentials export --stack prod --format csv --out ~/coldmail-prod-mailboxes.csv"):
        assert needle in steps, needle


def test_state_defaults_to_a_file_backend_inside_the_project(project):
    fake = FakePulumiCommand()
    run_cli(["up", "--stack", "prod", "--yes"], project, fake)
    url = "file://" + os.path.join(project, ".coldmail", "state")
    assert all(e["PULUMI_BACKEND_URL"] == url for e in fake.envs)
    assert os.path.isdir(os.path.join(project, ".coldmail", "state"))


def test_backend_flag_and_env_override_the_default(project):
    fake = FakePulumiCommand()
    run_cli(["preview", "--stack", "prod", "--backend", "s3://team-state"], project, fake)
    assert {e["PULUMI_BACKEND_URL"] for e in fake.envs} == {"s3://team-state"}
    fake = FakePulumiCommand()
    run_cli(["preview", "--stack", "prod"], project, fake, env=dict(PASSPHRASE_ENV, PULUMI_BACKEND_URL="gs://b"))
    assert {e["PULUMI_BACKEND_URL"] for e in fake.envs} == {"gs://b"}


@pytest.mark.parametrize("argv", [["up", "--yes"], ["preview"], ["destroy", "--yes"], ["refresh"], ["status"],
                                  ["credentials", "export", "--out", "x.csv"]])
def test_a_mistyped_stack_is_an_error_listing_the_stacks_and_creates_nothing(project, argv):
    fake = FakePulumiCommand(stacks=("prod", "staging"))
    r = run_cli(argv + ["--stack", "prdo", "--json"], project, fake)
    assert r.code == 2
    (err,) = r.doc["errors"]
    assert err["kind"] == "stack_not_found"
    assert err["message"] == (f"stack 'prdo' does not exist in file://{project}/.coldmail/state; "
                              "existing stacks: prod, staging")
    assert err["fix"] == "check --stack, pass the right --backend, or create it: coldmail stack init prdo"
    assert [c for c in fake.calls if c[:2] == ["stack", "init"]] == []
    assert not os.path.exists(os.path.join(project, "Pulumi.prdo.yaml"))


def test_an_edit_on_a_stack_the_backend_lacks_is_an_error_and_leaves_its_file_alone(project):
    shutil.copy(os.path.join(project, "Pulumi.prod.yaml"), os.path.join(project, "Pulumi.prdo.yaml"))
    before = open(os.path.join(project, "Pulumi.prdo.yaml"), "rb").read()
    fake = FakePulumiCommand(stacks=("prod",))
    r = run_cli(["domain", "add", "new-acme.com", "--stack", "prdo", "--yes", "--json"], project, fake)
    assert r.code == 2 and r.doc["errors"][0]["kind"] == "stack_not_found"
    assert [c for c in fake.calls if c[0] != "stack" or c[1] == "init"] == []
    assert open(os.path.join(project, "Pulumi.prdo.yaml"), "rb").read() == before


def test_an_edit_of_a_stack_without_a_stack_file_names_the_files_there(project):
    r = run_cli(["domain", "add", "new-acme.com", "--stack", "prdo", "--json"], project, FakePulumiCommand())
    assert r.code == 2
    (err,) = r.doc["errors"]
    assert err["message"] == f"stack file {project}/Pulumi.prdo.yaml not found; stack files here: Pulumi.prod.yaml"


def test_stack_init_creates_the_stack_with_the_passphrase_provider_and_is_idempotent(project):
    fake = FakePulumiCommand(stacks=())
    r = run_cli(["stack", "init", "staging", "--json"], project, fake)
    assert r.code == 0
    assert fake.calls == [["stack", "init", "staging", "--secrets-provider", "passphrase"]]
    assert r.doc["stack"] == "staging"
    assert r.doc["result"] == {"stack": "staging", "created": True, "backend": f"file://{project}/.coldmail/state",
                               "secrets_provider": "passphrase",
                               "stack_file": os.path.join(project, "Pulumi.staging.yaml"), "stack_file_exists": False}
    again = run_cli(["stack", "init", "staging", "--json"], project, fake)
    assert again.code == 0 and again.doc["result"]["created"] is False


def test_create_flag_lets_preview_and_up_create_a_missing_stack(project):
    fake = FakePulumiCommand(stacks=())
    assert run_cli(["preview", "--stack", "prod", "--create"], project, fake).code == 0
    assert fake.calls[:2] == [["stack", "select", "--stack", "prod"],
                              ["stack", "init", "prod", "--secrets-provider", "passphrase"]]


def test_preview_and_up_run_the_projects_policy_pack(project):
    for argv in (["preview"], ["up", "--yes"]):
        fake = FakePulumiCommand()
        assert run_cli(argv + ["--stack", "prod"], project, fake).code == 0
        (call,) = ops_calls(fake)
        assert call[call.index("--policy-pack") + 1] == os.path.join(project, "policy")


def test_without_its_policy_pack_nothing_is_previewed_or_applied(project):
    shutil.rmtree(os.path.join(project, "policy"))
    for argv in (["preview"], ["up", "--yes"], ["domain", "add", "new-acme.com", "--yes"]):
        fake = FakePulumiCommand()
        r = run_cli(argv + ["--stack", "prod", "--json"], project, fake)
        assert r.code == 2 and r.doc["errors"][0]["kind"] == "policy_pack_missing", argv
        assert ops_calls(fake) == [] and [c for c in fake.calls if c[0] == "config"] == []


def test_preview_expect_no_changes_exits_3_when_something_would_change(project):
    fake = FakePulumiCommand(changes={"update": 1, "same": 40})
    r = run_cli(["preview", "--stack", "prod", "--expect-no-changes", "--json"], project, fake)
    assert r.code == 3
    assert ops_calls(fake) == [["preview", "--expect-no-changes", "--policy-pack", os.path.join(project, "policy"),
                                "--parallel", "4", "--exec-kind", "auto.local", "--event-log", "<event-log>",
                                "--stack", "prod"]]
    doc = r.doc
    assert doc["ok"] is False and doc["result"]["changes"] == {"update": 1, "same": 40}
    assert doc["errors"][0]["kind"] == "changes_found"


def test_preview_expect_no_changes_exits_0_when_nothing_changes(project):
    fake = FakePulumiCommand(changes={"same": 41})
    r = run_cli(["preview", "--stack", "prod", "--expect-no-changes", "--json"], project, fake)
    assert r.code == 0 and r.doc["result"]["has_changes"] is False


def test_up_without_yes_and_without_a_terminal_previews_then_refuses_with_exit_2(project):
    fake = FakePulumiCommand(changes={"create": 2})
    r = run_cli(["up", "--stack", "prod", "--json"], project, fake)
    assert r.code == 2
    assert [c[0] for c in ops_calls(fake)] == ["preview"]
    assert r.doc["errors"][0]["kind"] == "confirmation_required" and "--yes" in r.doc["errors"][0]["fix"]


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_up_without_yes_on_a_terminal_applies_after_the_user_agrees(project):
    fake = FakePulumiCommand(changes={"create": 2})
    r = run_cli(["up", "--stack", "prod"], project, fake, stdin=_Tty("y\n"))
    assert r.code == 0 and [c[0] for c in ops_calls(fake)] == ["preview", "up"]
    assert "Apply these changes" in r.stderr and "Next steps:" in r.stdout
    fake = FakePulumiCommand(changes={"create": 2})
    r = run_cli(["up", "--stack", "prod"], project, fake, stdin=_Tty("n\n"))
    assert r.code == 0 and [c[0] for c in ops_calls(fake)] == ["preview"]


def test_destroy_with_yes_runs_exactly_one_destroy_on_an_existing_stack(project):
    fake = FakePulumiCommand(changes={"delete": 5})
    r = run_cli(["destroy", "--stack", "prod", "--yes", "--json"], project, fake)
    assert r.code == 0
    assert ["stack", "init", "prod", "--secrets-provider", "passphrase"] not in fake.calls
    assert ops_calls(fake) == [["destroy", "--skip-preview", "--yes", "--parallel", "4", "--exec-kind", "auto.local",
                                "--event-log", "<event-log>", "--stack", "prod"]]
    assert r.doc["result"]["changes"] == {"delete": 5}


def test_destroy_without_yes_under_json_refuses_and_destroys_nothing(project):
    fake = FakePulumiCommand()
    r = run_cli(["destroy", "--stack", "prod", "--json"], project, fake)
    assert r.code == 2 and ops_calls(fake) == []


def test_refresh_runs_refresh(project):
    fake = FakePulumiCommand(changes={"same": 3})
    r = run_cli(["refresh", "--stack", "prod", "--json", "--parallel", "2"], project, fake)
    assert r.code == 0
    assert ops_calls(fake) == [["refresh", "--skip-preview", "--yes", "--parallel", "2", "--exec-kind", "auto.local",
                                "--event-log", "<event-log>", "--stack", "prod"]]


def test_a_failed_up_exits_1_with_the_engine_error(project):
    fake = FakePulumiCommand(fail="up")
    r = run_cli(["up", "--stack", "prod", "--yes", "--json"], project, fake)
    assert r.code == 1 and "403 Forbidden" in r.doc["errors"][0]["message"]


def test_missing_passphrase_stops_before_any_pulumi_call(project):
    fake = FakePulumiCommand()
    r = run_cli(["up", "--stack", "prod", "--yes", "--json"], project, fake, env={"PATH": "/usr/bin"})
    assert r.code == 2 and fake.calls == []
    assert r.doc["errors"][0]["kind"] == "passphrase_missing" and "PULUMI_CONFIG_PASSPHRASE" in r.doc["errors"][0]["fix"]
    fake = FakePulumiCommand()
    env = {"PATH": "/usr/bin", "PULUMI_CONFIG_PASSPHRASE_FILE": "/dev/null"}
    assert run_cli(["preview", "--stack", "prod"], project, fake, env=env).code == 0


def test_every_command_needing_the_cli_stops_with_install_help_when_it_is_missing(project, tmp_path):
    env = dict(PASSPHRASE_ENV, PATH=str(tmp_path))  # an empty PATH: no pulumi anywhere
    for argv in (["preview"], ["up", "--yes"], ["destroy", "--yes"], ["refresh"], ["status"],
                 ["domain", "add", "x-new.com"], ["credentials", "export", "--out", str(tmp_path / "c.csv")],
                 ["stack", "init", "staging"]):
        r = run_cli(argv + ["--stack", "prod", "--json"], project, None, env=env)
        assert r.code == 1, argv
        err = r.doc["errors"][0]
        assert err["kind"] == "pulumi_missing" and "curl -fsSL https://get.pulumi.com | sh" in err["message"]
        assert "pulumi version" in err["message"] and "brew" in err["message"]
    assert run_cli(["plan", "--stack", "prod"], project, None, env=env).code == 0


def test_a_bad_edit_is_refused_with_its_path_before_the_cli_is_needed(project, tmp_path):
    env = dict(PASSPHRASE_ENV, PATH=str(tmp_path))
    r = run_cli(["domain", "add", "not a domain", "--stack", "prod", "--json"], project, None, env=env)
    assert r.code == 2
    (err,) = r.doc["errors"]
    assert (err["kind"], err["path"]) == ("config", "coldmail:domains[12].name")
    assert err["message"] == "domain 'not a domain' is invalid: Codepoint U+0020 at position 4 of 'not a domain' not allowed"


def test_logs_go_to_a_rotating_owner_only_file_under_an_owner_only_directory(project):
    import logging.handlers

    from coldmail.cli import output

    old = os.umask(0o022)
    try:
        run_cli(["preview", "--stack", "prod", "-v"], project, FakePulumiCommand())
    finally:
        os.umask(old)
    log = os.path.join(project, ".coldmail", "logs", "coldmail.log")
    assert "coldmail preview" in open(log, encoding="utf-8").read()
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    for d in (".coldmail", ".coldmail/logs", ".coldmail/state"):
        assert stat.S_IMODE(os.stat(os.path.join(project, d)).st_mode) == 0o700, d
    output.setup_logging(project, io.StringIO())
    try:
        (handler,) = [h for h in output.LOG.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
        assert handler.maxBytes > 0 and handler.backupCount > 0
        handler.doRollover()
        assert stat.S_IMODE(os.stat(log + ".1").st_mode) == 0o600
        assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    finally:
        output.close_logging()


def test_an_existing_world_readable_coldmail_directory_and_log_are_tightened(project):
    os.makedirs(os.path.join(project, ".coldmail", "logs"))
    log = os.path.join(project, ".coldmail", "logs", "coldmail.log")
    with open(log, "w") as fh:
        fh.write("old\n")
    for path, mode in ((os.path.join(project, ".coldmail"), 0o755), (os.path.dirname(log), 0o755), (log, 0o644)):
        os.chmod(path, mode)
    run_cli(["plan", "--stack", "prod"], project, None, env={})
    assert stat.S_IMODE(os.stat(os.path.join(project, ".coldmail")).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600


STAND_IN_CLI = """#!/bin/sh
# A stand-in `pulumi`: answers `version`, records every other call's arguments and standard input.
if [ "$1" = version ]; then echo v3.200.0; exit 0; fi
printf '%s\\n' "$@" > "$(dirname "$0")/args"
cat > "$(dirname "$0")/stdin"
if [ -n "$FAIL" ]; then echo "error: $FAIL" >&2; exit 255; fi
"""


def test_the_cli_command_gives_a_secret_to_the_pulumi_process_on_stdin_only(tmp_path):
    from pulumi.automation.errors import CommandError

    from coldmail.ops.automation import CliCommand, cli_message

    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "pulumi"
    script.write_text(STAND_IN_CLI)
    script.chmod(0o755)
    cli = CliCommand(root=str(tmp_path))
    args = ["config", "set", "--path", "coldmail:servers[0].mailcowApiKey", "--secret", "--stack", "prod"]
    cli.run_with_input(args, str(tmp_path), {}, "FAKE-secret-value-0000")
    assert (tmp_path / "bin" / "args").read_text().splitlines() == ["--non-interactive", *args]
    assert (tmp_path / "bin" / "stdin").read_text() == "FAKE-secret-value-0000"
    with pytest.raises(CommandError) as failed:
        cli.run_with_input(args, str(tmp_path), {"FAIL": "the passphrase is wrong"}, "FAKE-secret-value-0000")
    assert cli_message(failed.value) == "error: the passphrase is wrong"
    assert "FAKE-secret-value-0000" not in str(failed.value)
