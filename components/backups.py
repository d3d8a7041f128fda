"""Backups: Mailcow's own daily backup on one server, and an optional encrypted off-site copy.

Mailcow's ``helper-scripts/backup_and_restore.sh`` does the work (``backup all --delete-days N`` into
``MAILCOW_BACKUP_LOCATION``), started by a systemd timer that ``scripts/backup.sh install`` writes. Each
backup gets the stack's config export (no secrets) beside it, and, when configured, restic copies it to
S3-compatible storage, encrypted with a password only the stack config holds. The restic credentials
reach the server on stdin and live there in a 0600 file: never a command line, an input or an output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pulumi
import pulumi_command as command

from coldmail.model import BackupConfig
from coldmail.model.host import BACKUP_SCRIPT, STACK_EXPORT

from .mail_server import SCRIPTS_DIR, MailServer, script_sha256


@dataclass(frozen=True, kw_only=True)
class BackupsArgs:
    """Inputs of :class:`Backups`."""

    server: MailServer
    config: BackupConfig
    config_export: Mapping[str, Any]
    """The stack config without secrets (``coldmail.model.stackfile.public_config``), kept beside each backup."""


def install_command(config: BackupConfig, hostname: str) -> str:
    """The ``backup.sh install`` line: settings as VAR=value prefixes, nothing secret; the script's digest
    makes a changed script re-run it."""
    offsite = config.offsite
    return " ".join([
        f"SCRIPT_SHA256={script_sha256('backup.sh')}",
        f"LOCATION={config.location}", f"DELETE_DAYS={config.delete_days}", f"TIME={config.time}",
        f"ENABLED={'y' if config.enabled else 'n'}",
        f"OFFSITE_REPOSITORY={offsite.repository if offsite else ''}",
        f"KEEP_DAYS={offsite.keep_days if offsite else 0}", f"HOST_NAME={hostname}",
        f"bash {BACKUP_SCRIPT} install",
    ])


class Backups(pulumi.ComponentResource):
    """The daily backup of one server: its script, its timer, the config export and the off-site secrets."""

    location: str
    """``MAILCOW_BACKUP_LOCATION`` on the server: one ``mailcow-YYYY-MM-DD-HH-MM-SS`` directory per backup."""
    copy_script: command.remote.CopyToRemote
    copy_export: command.remote.CopyToRemote
    install: command.remote.Command

    def __init__(self, name: str, args: BackupsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        offsite = args.config.offsite
        if offsite is not None and not (offsite.password and offsite.access_key_id and offsite.secret_access_key):
            raise ValueError(
                "coldmail:backup.offsite needs password, accessKeyId and secretAccessKey: set each with "
                "pulumi config set --secret --path 'coldmail:backup.offsite.<key>' <value>")
        super().__init__("coldmail:index:Backups", name, None, opts)
        server, conn = args.server, args.server.connection
        self.location = args.config.location
        export_json = json.dumps(args.config_export, indent=2, sort_keys=True) + "\n"
        child = dict(parent=self, depends_on=[server.ready])
        self.copy_script = command.remote.CopyToRemote(
            f"{name}-copy-script", connection=conn, source=pulumi.FileAsset(str(SCRIPTS_DIR / "backup.sh")),
            remote_path=BACKUP_SCRIPT, opts=pulumi.ResourceOptions(**child))
        self.copy_export = command.remote.CopyToRemote(
            f"{name}-copy-export", connection=conn, source=pulumi.StringAsset(export_json),
            remote_path=STACK_EXPORT, opts=pulumi.ResourceOptions(**child))
        stdin = None
        if offsite is not None:
            # Secrets go on stdin only: never on the command line, which lands in state and `ps`.
            stdin = pulumi.Output.secret(f"RESTIC_PASSWORD={offsite.password}\n"
                                         f"AWS_ACCESS_KEY_ID={offsite.access_key_id}\n"
                                         f"AWS_SECRET_ACCESS_KEY={offsite.secret_access_key}\n")
        self.install = command.remote.Command(
            f"{name}-install", connection=conn, create=install_command(args.config, server.hostname),
            stdin=stdin, add_previous_output_in_env=False, logging=command.remote.Logging.STDERR,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.copy_script, self.copy_export, server.ready]))
        self.register_outputs({"location": self.location})
