"""Backups in the whole program under the recording mock engine: per server its script, the config export
(no secret in it) and the install command, with the restic secrets on stdin only."""

import copy
import json

import pytest

from coldmail.ops.mock_engine import run_program
from components.mail_server import script_sha256
from tests.program.program_helpers import MAIN, engine_config, prod_raw

T_CMD, T_COPY = "command:remote:Command", "command:remote:CopyToRemote"
RESTIC_PASSWORD = "TEST-ONLY-restic-password-not-real"
SECRET_KEY = "TEST-ONLY-s3-secret-not-real"
KEY_ID = "TESTONLYKEYID0000"


def _run(backup):
    raw = copy.deepcopy(prod_raw())
    if backup is not None:
        raw["backup"] = backup
    return run_program(MAIN, config=engine_config(raw),
                       secret_keys=["coldmail:sshPrivateKey", "coldmail:servers", "coldmail:backup"])


@pytest.fixture(scope="module")
def offsite():
    result = _run({"time": "02:15", "deleteDays": 10, "offsite": {
        "repository": "s3:https://s3.eu-central-1.example.com/acme-backups/coldmail", "keepDays": 60,
        "password": RESTIC_PASSWORD, "accessKeyId": KEY_ID, "secretAccessKey": SECRET_KEY}})
    assert result.error is None, result.error
    return result


def test_each_server_gets_the_script_the_export_and_the_install_after_mailcow(offsite):
    copy_script, copy_export = offsite.named("mx1-backups-copy-script"), offsite.named("mx1-backups-copy-export")
    install = offsite.named("mx1-backups-install")
    assert copy_script.inputs["remotePath"] == "/opt/coldmail/backup.sh"
    assert copy_export.inputs["remotePath"] == "/opt/coldmail/coldmail-stack.json"
    assert install.inputs["create"] == (
        f"SCRIPT_SHA256={script_sha256('backup.sh')} LOCATION=/var/backups/mailcow DELETE_DAYS=10 TIME=02:15 "
        "ENABLED=y OFFSITE_REPOSITORY=s3:https://s3.eu-central-1.example.com/acme-backups/coldmail KEEP_DAYS=60 "
        "HOST_NAME=mx1.acme-mailops.com bash /opt/coldmail/backup.sh install")
    mailcow_install = offsite.named("mx1-install-mailcow").urn
    assert mailcow_install in install.dependencies
    assert {copy_script.urn, copy_export.urn} <= set(install.dependencies)
    assert offsite.named("mx1-backups").type == "coldmail:index:Backups"


def test_restic_secrets_reach_the_server_on_stdin_only(offsite):
    install = offsite.named("mx1-backups-install")
    assert "stdin" in install.secret_inputs
    assert install.inputs["stdin"] == (f"RESTIC_PASSWORD={RESTIC_PASSWORD}\nAWS_ACCESS_KEY_ID={KEY_ID}\n"
                                       f"AWS_SECRET_ACCESS_KEY={SECRET_KEY}\n")
    for r in offsite.resources:
        shown = json.dumps({k: v for k, v in r.inputs.items() if k not in r.secret_inputs}, default=str)
        for secret in (RESTIC_PASSWORD, SECRET_KEY, KEY_ID):
            assert secret not in shown, f"{secret} in the inputs of {r.name}"
    assert not any(s in json.dumps(offsite.outputs, default=str) for s in (RESTIC_PASSWORD, SECRET_KEY))


def test_the_config_export_beside_each_backup_holds_no_secret(offsite):
    text = offsite.named("mx1-backups-copy-export").inputs["source"].text
    doc = json.loads(text)
    assert doc["config"]["coldmail:backup"]["offsite"] == {
        "repository": "s3:https://s3.eu-central-1.example.com/acme-backups/coldmail", "keepDays": 60}
    for secret in (RESTIC_PASSWORD, SECRET_KEY, KEY_ID, "TEST-ONLY-FAKE-SSH-KEY", "TEST-FAKE-MAILCOW-API-KEY"):
        assert secret not in text
    assert [d["name"] for d in doc["config"]["coldmail:domains"]][:2] == ["acme-growth.com", "acmegrowth.io"]
    assert "mailcowApiKey" not in doc["config"]["coldmail:servers"][0] and "coldmail:sshPrivateKey" not in doc["config"]


def test_defaults_without_a_backup_section_and_the_pinned_host_keys_are_exported():
    result = _run(None)
    assert result.error is None, result.error
    assert result.named("mx1-backups-install").inputs["create"] == (
        f"SCRIPT_SHA256={script_sha256('backup.sh')} LOCATION=/var/backups/mailcow DELETE_DAYS=14 TIME=03:30 "
        "ENABLED=y OFFSITE_REPOSITORY= KEEP_DAYS=0 HOST_NAME=mx1.acme-mailops.com bash /opt/coldmail/backup.sh install")
    assert "stdin" not in result.named("mx1-backups-install").inputs
    assert set(result.outputs["ssh_host_keys"]) == {"mx1"}


def test_switching_backups_off_still_reaches_the_server_to_stop_the_timer():
    result = _run({"enabled": False})
    assert " ENABLED=n " in result.named("mx1-backups-install").inputs["create"]
