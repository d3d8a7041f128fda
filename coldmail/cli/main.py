"""``coldmail``: parse, run one command, print one result.

stdout carries the result only (one JSON document with ``--json``, see docs/cli.md); progress and logs
go to stderr and to ``.coldmail/logs/coldmail.log``. Exit codes: 0 done, 1 failed, 2 bad input,
3 preview found changes.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Optional, Sequence, TextIO

from coldmail.errors import EXIT_BAD_INPUT, UsageError
from coldmail.ops.project import find_project_dir

from . import output
from .output import LOG, Outcome
from .parser import build_parser, guess_command
from .session import Session


def main(argv: Optional[Sequence[str]] = None, *, pulumi_command: Any = None, env: Optional[Mapping[str, str]] = None,
         stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None, stdin: Optional[TextIO] = None) -> int:
    """Run the command; returns the exit code. The keyword arguments exist for tests and embedding."""
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout, stderr, stdin = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    env = dict(os.environ if env is None else env)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        out = Outcome(guess_command(argv), EXIT_BAD_INPUT).fail(exc)
        output.emit(out, "--json" in argv, stdout, stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return int(exc.code or 0)

    # `stack init NAME` names its stack positionally; every other command takes --stack.
    args.stack = getattr(args, "stack_name", None) or args.stack
    try:
        # The on-server agent runs outside any Pulumi project: its own config file says everything.
        project_dir = (find_project_dir(args.project_dir) if getattr(args, "needs_project", True)
                       else os.path.abspath(args.project_dir or os.getcwd()))
        output.setup_logging(project_dir, stderr, args.verbose)
        LOG.debug("coldmail %s (project %s)", args.command, project_dir)
        args.stack = args.stack or env.get("COLDMAIL_STACK")
        if not args.stack:
            raise UsageError("--stack is required (or set COLDMAIL_STACK)", "coldmail --help")
        session = Session(project_dir, env=env, progress=stderr, stdin=stdin,
                          interactive=not args.json and bool(getattr(stdin, "isatty", lambda: False)()),
                          pulumi_command=pulumi_command, backend=args.backend,
                          secrets_provider=args.secrets_provider)
    except Exception as exc:  # noqa: BLE001 - one document and one exit code, whatever broke
        out = _failed(Outcome(args.command, stack=args.stack), exc)
    else:
        out = run(session, args)
    for e in out.errors:
        LOG.debug("error: %s", e)
    LOG.debug("exit %d", out.exit_code)
    output.emit(out, args.json, stdout, stderr)
    output.close_logging()
    return out.exit_code


def run(session: Session, args: Any) -> Outcome:
    """Run one parsed command (``args`` from :func:`build_parser`) for ``session``: the CLI and the MCP server
    both call this, so a command fails the same way, as an outcome, whoever called it."""
    try:
        out = args.call(session, args)
    except Exception as exc:  # noqa: BLE001 - one document and one exit code, whatever broke
        out = _failed(Outcome(args.command, stack=args.stack), exc)
    if out.stack is None:
        out.stack = args.stack
    return out


def _failed(out: Outcome, exc: BaseException) -> Outcome:
    LOG.debug("%s failed", out.command, exc_info=True)
    out.fail(exc)
    if getattr(exc, "issues", None):
        out.text = "refused, nothing written"
    return out
