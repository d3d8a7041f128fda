"""coldmail:backup: defaults, every bad value reported with its path, the off-site secrets required and
never in plain text unnoticed."""

import copy
import os
import shutil

import yaml

from coldmail import model
from coldmail.model import BackupConfig
from coldmail.model.stackfile import raw_from_stack_file
from coldmail.ops import plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROD = raw_from_stack_file(os.path.join(ROOT, "Pulumi.prod.yaml"))
SECURE = {"secure": "v1:AAAA"}


def load(backup):
    raw = copy.deepcopy(PROD)
    raw["backup"] = backup
    return model.load(raw)


def issues(backup):
    raw = copy.deepcopy(PROD)
    raw["backup"] = backup
    return [(i.path, i.message) for i in model.validate(raw)]


def test_defaults_back_up_daily_at_half_past_three_and_keep_two_weeks():
    assert model.load(PROD).backup == BackupConfig(True, "03:30", 14, "/var/backups/mailcow", None)


def test_every_bad_value_is_reported_with_its_path():
    assert issues({"time": "3:30", "deleteDays": 0, "location": "/var/../etc", "retention": 3}) == [
        ("coldmail:backup.retention", "unknown key"),
        ("coldmail:backup.time", "'3:30' is not a time of day"),
        ("coldmail:backup.location", "'/var/../etc' is not an absolute path of plain characters"),
        ("coldmail:backup.deleteDays", "must be 1..3650, got 0")]


def test_the_offsite_copy_needs_an_s3_repository_and_its_three_secrets():
    assert issues({"offsite": {"repository": "b2:bucket", "password": SECURE}}) == [
        ("coldmail:backup.offsite.repository", "'b2:bucket' is not an S3 repository restic understands"),
        ("coldmail:backup.offsite.accessKeyId", "is required for the off-site copy"),
        ("coldmail:backup.offsite.secretAccessKey", "is required for the off-site copy")]
    cfg = load({"offsite": {"repository": "s3:https://s3.example.com/bucket/path", "password": SECURE,
                            "accessKeyId": SECURE, "secretAccessKey": SECURE}})
    assert (cfg.backup.offsite.repository, cfg.backup.offsite.keep_days) == ("s3:https://s3.example.com/bucket/path", 30)


def test_plan_flags_an_offsite_secret_left_in_plain_text_and_never_shows_it(tmp_path):
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.prod.yaml"):
        shutil.copy(os.path.join(ROOT, name), tmp_path / name)
    doc = yaml.safe_load((tmp_path / "Pulumi.prod.yaml").read_text())
    doc["config"]["coldmail:backup"] = {"offsite": {"repository": "s3:https://s3.example.com/b/c",
                                                    "password": "TEST-ONLY-plain-password",
                                                    "accessKeyId": SECURE, "secretAccessKey": SECURE}}
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc))
    report = plan.build(str(tmp_path), "prod", None)
    assert report.error is None
    assert {s["key"]: s["status"] for s in report.result["secrets"] if "backup" in s["key"]} == {
        "coldmail:backup.offsite.password": "plaintext", "coldmail:backup.offsite.accessKeyId": "set",
        "coldmail:backup.offsite.secretAccessKey": "set"}
    assert any("coldmail:backup.offsite.password is in plain text" in w for w in report.warnings)
    assert "TEST-ONLY-plain-password" not in repr(report.result)
    assert report.result["resource_counts"]["coldmail:index:Backups"] == 1
