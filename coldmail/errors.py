"""The one exception root of the coldmail side (model, operations, capabilities, CLI and MCP).

Every error a user or an agent can act on is a :class:`ColdmailError`: it carries the message, the fix,
a machine-readable ``kind`` and the exit code the command ends with. The CLI builds its JSON envelope
from these fields in one place (``coldmail.cli.output``), so no layer below it formats errors itself.
The Mailcow client keeps its own hierarchy (``dynamic_providers.errors``): it also runs inside the
provider process, where nothing of the CLI exists.
"""

from __future__ import annotations

from typing import Optional

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_CHANGES = 3


class ColdmailError(Exception):
    """Root of every coldmail error a command reports.

    :param message: what went wrong, naming the value and its place.
    :param fix: what to do about it.
    :param kind: a stable, machine-readable category (``config``, ``usage``, ``pulumi_missing``…).
    :param exit_code: 1 for a failure, 2 for bad input.
    :param path: the config path the error is about, when there is one.
    """

    kind = "error"
    exit_code = EXIT_FAILED

    def __init__(self, message: str, fix: Optional[str] = None, *, kind: Optional[str] = None,
                 exit_code: Optional[int] = None, path: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.path = path
        if kind is not None:
            self.kind = kind
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(ColdmailError):
    """The command line itself is wrong (unknown flag, missing stack, value out of range)."""

    kind = "usage"
    exit_code = EXIT_BAD_INPUT
