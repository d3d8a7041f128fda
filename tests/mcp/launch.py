"""Starts ``coldmail mcp`` through the command's own entry point with the recording fake Pulumi CLI of the
CLI tests in place of the real one, and writes what that CLI was asked to do to a JSON file on exit.

    python -m tests.mcp.launch RECORD.json mcp --stack prod --project-dir DIR [--allow-apply]

The fake's stack history moves on with every ``up`` (a new update version), as a real backend's does.
"""

from __future__ import annotations

import json
import sys

from pulumi.automation import CommandResult

from coldmail import cli
from tests.cli.fake_pulumi import FakePulumiCommand

PASSWORDS = ("PLACEHOLDER-pw-anna-0001", "PLACEHOLDER-pw-jonas-0002")
API_KEY, ADMIN_PASSWORD = "PLACEHOLDER-api-key-0000000000", "PLACEHOLDER-admin-pw-0000"
CREDENTIALS = [
    {"email": "anna.berg@acme-growth.com", "first_name": "Anna", "last_name": "Berg", "password": PASSWORDS[0],
     "smtp_host": "mx1.acme-mailops.com", "smtp_port": 587, "imap_host": "mx1.acme-mailops.com", "imap_port": 993,
     "daily_limit": 20},
    {"email": "jonas.schulz@acme-growth.com", "first_name": "Jonas", "last_name": "Schulz", "password": PASSWORDS[1],
     "smtp_host": "mx1.acme-mailops.com", "smtp_port": 587, "imap_host": "mx1.acme-mailops.com", "imap_port": 993,
     "daily_limit": 20},
]
SERVERS = {"mx1": {"server_id": "1001", "hostname": "mx1.acme-mailops.com", "ipv4_address": "203.0.113.10",
                   "ipv6_address": "2001:db8::1", "mailcow_url": "https://mx1.acme-mailops.com",
                   "floating_ips": [{"index": 1, "ip": "203.0.113.11", "ptr": "mx1-ip1.acme-mailops.com"}],
                   "relayhost_ids": {"1": "12"}}}
OUTPUTS = {"servers": SERVERS, "server_secrets": {"mx1": {"api_key": API_KEY, "admin_password": ADMIN_PASSWORD}},
           "credentials": CREDENTIALS}


class MovingHistoryFake(FakePulumiCommand):
    """The recording fake, whose last update is version 1 plus the number of ``up`` runs so far."""

    def _answer(self, args, cwd, stdin):
        if args[:2] == ["stack", "history"]:
            ups = sum(1 for c in self.calls if "up" in c[:2])
            return CommandResult(stdout=json.dumps([{
                "kind": "update", "startTime": "2026-01-01T00:00:00.000Z", "endTime": "2026-01-01T00:01:00.000Z",
                "message": "", "environment": {}, "config": {}, "result": "succeeded", "version": 1 + ups,
                "resourceChanges": self.changes}]), stderr="", code=0)
        return super()._answer(args, cwd, stdin)


def main() -> int:
    record, argv = sys.argv[1], sys.argv[2:]
    fake = MovingHistoryFake(outputs=OUTPUTS, secret_outputs=("server_secrets", "credentials"))
    try:
        return cli.main(argv, pulumi_command=fake)
    finally:
        with open(record, "w", encoding="utf-8") as fh:
            json.dump({"calls": fake.calls, "stdin": [i for _, i in fake.inputs],
                       "operations": [op for op, _ in fake.seen]}, fh)


if __name__ == "__main__":
    sys.exit(main())
