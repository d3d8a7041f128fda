"""The users' CI: actionlint (with shellcheck on every run: block) finds nothing, and each workflow does its job."""

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKFLOWS = os.path.join(ROOT, ".github", "workflows")
BIN = os.path.dirname(sys.executable)


def tool(name: str) -> str:
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        path = shutil.which(name) or ""
    assert path, f"{name} is missing: install requirements.txt into the venv (make install)"
    return path


def actionlint(*paths: str, cwd: str = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([tool("actionlint"), "-no-color", f"-shellcheck={tool('shellcheck')}", *paths],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def load(name: str) -> dict:
    with open(os.path.join(WORKFLOWS, name), encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    # YAML 1.1 reads the bare key `on` as True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def pulumi_step(job: dict) -> dict:
    steps = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert len(steps) == 1
    return steps[0]


def test_actionlint_reports_nothing_on_the_workflows():
    files = sorted(os.path.join(WORKFLOWS, f) for f in os.listdir(WORKFLOWS) if f.endswith((".yml", ".yaml")))
    assert {os.path.basename(f) for f in files} >= {"preview.yml", "deploy.yml", "drift.yml"}
    result = actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_with_shellcheck_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo $UNQUOTED\n      - uses: actions/checkout@v4\n        with:\n"
                   "          nope: x\n")
    result = actionlint(str(bad), cwd=str(tmp_path))
    assert result.returncode == 1
    assert "SC2086" in result.stdout and 'input "nope" is not defined' in result.stdout


def test_pull_requests_preview_every_stack_with_the_policy_pack_and_comment():
    wf = load("preview.yml")
    assert "pull_request" in wf["on"]
    assert wf["permissions"]["pull-requests"] == "write"
    step = pulumi_step(wf["jobs"]["preview"])
    assert step["with"]["command"] == "preview"
    assert step["with"]["policyPacks"] == "policy"
    assert step["with"]["comment-on-pr"] is True
    assert "fromJSON(needs.stacks.outputs.stacks)" in wf["jobs"]["preview"]["strategy"]["matrix"]["stack"]


def test_stack_list_finds_the_prod_stack_file(tmp_path):
    run = load("preview.yml")["jobs"]["stacks"]["steps"][1]["run"]
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml"):
        (tmp_path / name).write_text("")
    out = tmp_path / "out"
    if not shutil.which("jq"):
        pytest.fail("jq is missing: the stack-list step needs it (preinstalled on GitHub runners)")
    subprocess.run(["bash", "-euo", "pipefail", "-c", run], cwd=tmp_path, check=True,
                   env=dict(os.environ, GITHUB_OUTPUT=str(out)))
    assert out.read_text().strip() == 'stacks=["prod","staging"]'


def test_main_runs_up_with_the_policy_pack_one_stack_at_a_time():
    wf = load("deploy.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    job = wf["jobs"]["up"]
    assert job["strategy"]["max-parallel"] == 1
    step = pulumi_step(job)
    assert step["with"]["command"] == "up" and step["with"]["policyPacks"] == "policy"


def test_nightly_drift_expects_no_changes_and_notifies_on_failure():
    wf = load("drift.yml")
    assert wf["on"]["schedule"][0]["cron"]
    job = wf["jobs"]["drift"]
    step = pulumi_step(job)
    assert step["with"]["command"] == "preview"
    assert step["with"]["refresh"] is True and step["with"]["expect-no-changes"] is True
    notify = [s for s in job["steps"] if str(s.get("if", "")).startswith("failure()")]
    assert any(str(s.get("uses", "")).startswith("actions/github-script@") for s in notify)
    assert any("SLACK_WEBHOOK_URL" in s.get("run", "") for s in notify)
    assert wf["permissions"]["issues"] == "write"


def test_workflows_take_credentials_only_from_github_secrets():
    for name in ("preview.yml", "deploy.yml", "drift.yml"):
        env = load(name)["jobs"][{"preview.yml": "preview", "deploy.yml": "up", "drift.yml": "drift"}[name]]["env"]
        for key in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "HCLOUD_TOKEN", "CLOUDFLARE_API_TOKEN"):
            # Previews (the PR preview and the nightly drift preview) only read: read-only provider tokens.
            secret = key + "_READ_ONLY" if name != "deploy.yml" and key.endswith("_TOKEN") and "PULUMI" not in key \
                else key
            assert env[key] == "${{ secrets.%s }}" % secret, (name, key)


# --- Who gets which secret --------------------------------------------------------------------------

SECRET = re.compile(r"\$\{\{\s*secrets\.([A-Za-z0-9_]+)\s*\}\}")
PRODUCTION_TOKENS = {"HCLOUD_TOKEN", "CLOUDFLARE_API_TOKEN"}


def secrets_of(node) -> set[str]:
    """Every secret a job (or any part of it) references."""
    return set(SECRET.findall(yaml.safe_dump(node)))


def all_jobs():
    for name in sorted(os.listdir(WORKFLOWS)):
        if name.endswith((".yml", ".yaml")):
            for job_name, job in load(name)["jobs"].items():
                yield name, job_name, job


def test_every_job_that_reads_a_secret_gets_it_through_an_environment():
    # Repository secrets reach any branch's workflow; environment secrets only what the environment admits.
    seen = 0
    for name, job_name, job in all_jobs():
        used = secrets_of(job) - {"GITHUB_TOKEN"}
        if used:
            seen += 1
            assert job.get("environment"), f"{name}:{job_name} reads {sorted(used)} without an environment"
    assert seen == 3


def test_pull_request_code_never_gets_production_tokens_or_an_unreviewed_passphrase():
    wf = load("preview.yml")
    assert set(wf["on"]) == {"pull_request"}, "pull_request_target would run with the base branch's secrets"
    for job_name, job in wf["jobs"].items():
        used = secrets_of(job)
        assert not used & PRODUCTION_TOKENS, (job_name, used)
        if "PULUMI_CONFIG_PASSPHRASE" in used:
            assert job["environment"] == "preview", "the passphrase only through the reviewed preview environment"
    preview = wf["jobs"]["preview"]
    assert preview["env"]["HCLOUD_TOKEN"] == "${{ secrets.HCLOUD_TOKEN_READ_ONLY }}"
    assert preview["env"]["CLOUDFLARE_API_TOKEN"] == "${{ secrets.CLOUDFLARE_API_TOKEN_READ_ONLY }}"
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    assert any("drop_provider_tokens.py" in str(s.get("run", "")) for s in preview["steps"])
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_every_pull_request_is_planned_without_any_credential():
    plan = load("preview.yml")["jobs"]["plan"]
    assert secrets_of(plan) == set() and "environment" not in plan and "env" not in plan
    assert any('coldmail plan --stack "$STACK"' in str(s.get("run", "")) for s in plan["steps"])
    assert load("preview.yml")["jobs"]["preview"]["needs"] == ["stacks", "plan"]


def test_deploy_reads_production_secrets_only_from_the_stacks_environment_on_main():
    wf = load("deploy.yml")
    assert set(wf["on"]) == {"push", "workflow_dispatch"} and wf["on"]["push"]["branches"] == ["main"]
    up = wf["jobs"]["up"]
    assert up["environment"] == "${{ matrix.stack }}"
    assert "github.ref == 'refs/heads/main'" in up["if"]
    assert secrets_of(up) >= PRODUCTION_TOKENS | {"PULUMI_CONFIG_PASSPHRASE"}
    assert wf["permissions"] == {"contents": "read"}


def test_drift_previews_with_read_only_tokens_from_its_own_environment():
    drift = load("drift.yml")["jobs"]["drift"]
    assert drift["environment"] == "drift"
    assert not secrets_of(drift) & PRODUCTION_TOKENS
    assert any("drop_provider_tokens.py" in str(s.get("run", "")) for s in drift["steps"])


def test_provider_tokens_in_the_stack_file_are_dropped_so_the_read_only_ones_apply(tmp_path):
    stack = tmp_path / "Pulumi.prod.yaml"
    stack.write_text("encryptionsalt: v1:FAKE:SALT\nconfig:\n  hcloud:token:\n    secure: v1:FAKE-HCLOUD\n"
                     "  cloudflare:apiToken:\n    secure: v1:FAKE-CF\n  coldmail:sshPrivateKey:\n"
                     "    secure: v1:FAKE-SSH\n  coldmail:servers:\n    - name: mx1\n")
    subprocess.run([sys.executable, os.path.join(ROOT, ".github", "scripts", "drop_provider_tokens.py"), str(stack)],
                   check=True, timeout=60)
    doc = yaml.safe_load(stack.read_text())
    assert doc == {"encryptionsalt": "v1:FAKE:SALT",
                   "config": {"coldmail:sshPrivateKey": {"secure": "v1:FAKE-SSH"}, "coldmail:servers": [{"name": "mx1"}]}}


# --- The SSH key for pulumi-docker ------------------------------------------------------------------

SSH_AGENT = os.path.join(ROOT, ".github", "scripts", "ssh_agent.sh")
PROGRAM_JOBS = (("deploy.yml", "up"), ("preview.yml", "preview"), ("drift.yml", "drift"))


@pytest.mark.parametrize("name, job_name", PROGRAM_JOBS)
def test_every_job_running_the_program_has_the_ssh_key_in_an_agent_only_from_its_environment(name, job_name):
    job = load(name)["jobs"][job_name]
    steps = job["steps"]
    pulumi_at = steps.index(pulumi_step(job))
    [start] = [i for i, s in enumerate(steps) if s.get("run") == "bash .github/scripts/ssh_agent.sh"]
    [stop] = [i for i, s in enumerate(steps) if s.get("run") == "bash .github/scripts/ssh_agent.sh stop"]
    assert start < pulumi_at < stop and steps[stop]["if"] == "always()"
    assert steps[start]["env"] == {"COLDMAIL_SSH_PRIVATE_KEY": "${{ secrets.COLDMAIL_SSH_PRIVATE_KEY }}"}
    # Only that step sees the key; the job gets it through its (reviewed, main-only) environment.
    assert [i for i, s in enumerate(steps) if "COLDMAIL_SSH_PRIVATE_KEY" in secrets_of(s)] == [start]
    assert "COLDMAIL_SSH_PRIVATE_KEY" not in secrets_of(job.get("env", {})) and job["environment"]


def test_the_ssh_agent_script_is_shellcheck_clean():
    proc = subprocess.run([tool("shellcheck"), "--severity=style", SSH_AGENT], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_key_goes_into_an_agent_the_later_steps_use_and_stop_ends_it(tmp_path):
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci-test", "-f", str(key)], check=True,
                   timeout=60)
    runner_temp, github_env = tmp_path / "runner-temp", tmp_path / "github-env"
    runner_temp.mkdir()
    base = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(runner_temp), "GITHUB_ENV": str(github_env)}
    start = subprocess.run(["bash", SSH_AGENT], env=dict(base, COLDMAIL_SSH_PRIVATE_KEY=key.read_text()),
                           capture_output=True, text=True, timeout=60)
    assert start.returncode == 0, start.stderr
    exported = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    assert sorted(exported) == ["SSH_AGENT_PID", "SSH_AUTH_SOCK"]
    assert exported["SSH_AUTH_SOCK"] == str(runner_temp / "ssh-agent.sock")
    later = dict(base, **exported)
    listed = subprocess.run(["ssh-add", "-L"], env=later, capture_output=True, text=True, timeout=60)
    assert listed.stdout.split()[:2] == (tmp_path / "key.pub").read_text().split()[:2]
    # Nothing of the key was written anywhere the runner keeps.
    assert os.listdir(runner_temp) == ["ssh-agent.sock"] and "PRIVATE KEY" not in github_env.read_text()
    stop = subprocess.run(["bash", SSH_AGENT, "stop"], env=later, capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0, stop.stderr
    gone = subprocess.run(["ssh-add", "-L"], env=later, capture_output=True, text=True, timeout=60)
    assert gone.returncode == 2  # no agent to talk to


def test_without_the_secret_no_agent_starts_and_the_log_says_why(tmp_path):
    github_env = tmp_path / "github-env"
    env = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "GITHUB_ENV": str(github_env)}
    start = subprocess.run(["bash", SSH_AGENT], env=env, capture_output=True, text=True, timeout=60)
    assert start.returncode == 0 and not github_env.exists()
    assert start.stdout.startswith("::notice::COLDMAIL_SSH_PRIVATE_KEY is not set in this environment")
    assert subprocess.run(["bash", SSH_AGENT, "stop"], env=env, timeout=60).returncode == 0
