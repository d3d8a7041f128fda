"""The Automation API path with an injected PulumiCommand: the exact CLI calls, events, exit codes."""

import io
import os

from tests.cli.clikit import PASSPHRASE_ENV, run_cli, stack_config
from tests.cli.fake_pulumi import FakePulumiCommand, strip_event_log


def ops_calls(fake):
    return [strip_event_log(c) for c in fake.calls if c[0] in ("preview", "up", "destroy", "refresh")]


def test_up_with_yes_runs_exactly_one_up_with_parallel_4_and_streams_progress(project):
    fake = FakePulumiCommand(changes={"create": 3})
    r = run_cli(["up", "--stack", "prod", "--yes", "--json"], project, fake)
    assert r.code == 0, r.stdout + r.stderr
    assert fake.calls[0] == ["stack", "select", "--stack", "prod"]
    assert ops_calls(fake) == [["up", "--yes", "--skip-preview", "--parallel", "4", "--exec-kind", "auto.local",
                                "--event-log", "<event-log>", "--stack", "prod"]]
    assert ["stack", "output", "--json", "--show-secrets", "--stack", "prod"] in fake.calls
    assert set(fake.cwds) == {project}
    assert "up [3/3]" in r.stderr and "done     cloudflare:index/dnsRecord:DnsRecord rec-create-2" in r.stderr
    res = r.doc["result"]
    assert res["changes"] == {"create": 3} and res["applied"] is True and res["has_changes"] is True
    steps = " ".join(res["next_steps"])
    for needle in ("DNS", "Port 25", "Hetzner", "PTR", "Warmup: start after the 24-48 h new-domain window",
                   "coldmail credentials export --stack prod"):
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


def test_a_new_stack_is_created_with_the_passphrase_secrets_provider(project):
    fake = FakePulumiCommand(stacks=())
    assert run_cli(["preview", "--stack", "prod"], project, fake).code == 0
    assert fake.calls[:2] == [["stack", "select", "--stack", "prod"],
                              ["stack", "init", "prod", "--secrets-provider", "passphrase"]]


def test_preview_expect_no_changes_exits_3_when_something_would_change(project):
    fake = FakePulumiCommand(changes={"update": 1, "same": 40})
    r = run_cli(["preview", "--stack", "prod", "--expect-no-changes", "--json"], project, fake)
    assert r.code == 3
    assert ops_calls(fake) == [["preview", "--expect-no-changes", "--parallel", "4", "--exec-kind", "auto.local",
                                "--event-log", "<event-log>", "--stack", "prod"]]
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


def test_destroy_of_a_missing_stack_fails_without_creating_it(project):
    fake = FakePulumiCommand(stacks=())
    r = run_cli(["destroy", "--stack", "prod", "--yes", "--json"], project, fake)
    assert r.code == 1 and "does not exist" in r.doc["errors"][0]["message"]
    assert all(c[:2] != ["stack", "init"] for c in fake.calls)


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
                 ["domain", "add", "x-new.com"], ["credentials", "export", "--out", str(tmp_path / "c.csv")]):
        r = run_cli(argv + ["--stack", "prod", "--json"], project, None, env=env)
        assert r.code == 1, argv
        err = r.doc["errors"][0]
        assert err["kind"] == "pulumi_missing" and "curl -fsSL https://get.pulumi.com | sh" in err["message"]
        assert "pulumi version" in err["message"] and "brew" in err["message"]
    assert run_cli(["plan", "--stack", "prod"], project, None, env=env).code == 0


def test_logs_go_to_a_rotating_file_under_the_project(project):
    import logging.handlers

    from coldmail.cli import output

    fake = FakePulumiCommand()
    run_cli(["preview", "--stack", "prod", "-v"], project, fake)
    log = os.path.join(project, ".coldmail", "logs", "coldmail.log")
    assert "coldmail preview" in open(log, encoding="utf-8").read()
    output.setup_logging(project, io.StringIO())
    try:
        assert any(isinstance(h, logging.handlers.RotatingFileHandler) and h.maxBytes > 0 and h.backupCount > 0
                   for h in output.LOG.handlers)
    finally:
        output.close_logging()
