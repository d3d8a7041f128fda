"""The users' CI: actionlint (with shellcheck on every run: block) finds nothing, and each workflow does its job."""

import os
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
            assert env[key] == "${{ secrets.%s }}" % key, (name, key)
