"""The Pulumi Automation API side of the ``coldmail`` command: stacks, operations, config, outputs.

The project directory is the workspace (the local program in ``__main__.py``, its ``Pulumi.yaml`` and
``Pulumi.<stack>.yaml``). State defaults to a file backend inside the project, so nobody needs an
account; secrets default to the passphrase provider with the passphrase from the environment.
``pulumi_command`` is injectable so everything here runs in tests without the real CLI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from pulumi import automation as auto
from pulumi.automation import errors as auto_errors

from coldmail.errors import EXIT_BAD_INPUT, ColdmailError
from coldmail.ops.edits import ConfigOp
from coldmail.ops.project import private_dir

INSTALL_HELP = (
    "the `pulumi` CLI is not installed (or not on PATH); `coldmail plan` works without it, this command does not.\n"
    "Install it:\n"
    "  curl -fsSL https://get.pulumi.com | sh      # Linux/macOS, then open a new shell\n"
    "  brew install pulumi/tap/pulumi             # macOS with Homebrew\n"
    "then check with:  pulumi version"
)
PASSPHRASE_HELP = (
    "export PULUMI_CONFIG_PASSPHRASE='<your passphrase>' (or PULUMI_CONFIG_PASSPHRASE_FILE=/path/to/file); "
    "it encrypts the stack's secrets, keep it in your password manager"
)
DEFAULT_PARALLEL = 4
"""Cloudflare allows 1,200 API calls per 5 minutes; more parallel steps only buy 429s."""
MAX_PARALLEL = 64
"""``pulumi --parallel`` reads 0 as unbounded; coldmail asks for a bound."""


class AutomationError(ColdmailError):
    """A problem running the Pulumi CLI; ``fix`` says what to do."""

    kind = "pulumi"


class PulumiMissing(AutomationError):
    kind = "pulumi_missing"

    def __init__(self) -> None:
        super().__init__(INSTALL_HELP, "curl -fsSL https://get.pulumi.com | sh && pulumi version")


class PassphraseMissing(AutomationError):
    kind = "passphrase_missing"
    exit_code = EXIT_BAD_INPUT

    def __init__(self) -> None:
        super().__init__("the stack's secrets are passphrase-encrypted and no passphrase is set", PASSPHRASE_HELP)


class OperationFailed(AutomationError):
    kind = "operation_failed"


class StackNotFound(AutomationError):
    """A command named a stack the backend does not have; nothing was created."""

    kind = "stack_not_found"
    exit_code = EXIT_BAD_INPUT


class PolicyPackMissing(AutomationError):
    kind = "policy_pack_missing"
    exit_code = EXIT_BAD_INPUT


@dataclass
class StackOptions:
    project_dir: str
    stack: str
    backend: Optional[str] = None
    """State backend URL; default ``PULUMI_BACKEND_URL`` or ``file://<project>/.coldmail/state``."""
    secrets_provider: str = "passphrase"
    pulumi_command: Optional[auto.PulumiCommand] = None
    """The CLI to run; it needs :meth:`CliCommand.run_with_input` to set secrets (tests inject a fake)."""
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class CliCommand(auto.PulumiCommand):
    """The SDK's ``PulumiCommand`` plus a run that feeds standard input.

    ``Workspace.set_config`` passes the value on the command line, where every user of the host can read
    it in the process list; secrets go through :meth:`run_with_input` instead.
    """

    def run_with_input(self, args: Sequence[str], cwd: str, additional_env: Mapping[str, str],
                       stdin: str) -> auto.CommandResult:
        """Run ``pulumi <args>`` with ``stdin`` as its standard input; raises CommandError like ``run``."""
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        done = subprocess.run([self.command, "--non-interactive", *args], input=stdin, capture_output=True,
                              text=True, cwd=cwd, env=env, check=False)
        result = auto.CommandResult(stdout=done.stdout, stderr=done.stderr, code=done.returncode)
        if done.returncode != 0:
            raise auto_errors.create_command_error(result)
        return result


def backend_url(opts: StackOptions) -> str:
    url = opts.backend or opts.env.get("PULUMI_BACKEND_URL")
    if url:
        return url
    return "file://" + private_dir(opts.project_dir, "state")


def pulumi_command(opts: StackOptions) -> auto.PulumiCommand:
    """The injected command, or the real CLI; raises PulumiMissing at once when it is not installed."""
    if opts.pulumi_command is not None:
        return opts.pulumi_command
    if shutil.which("pulumi", path=opts.env.get("PATH")) is None:
        raise PulumiMissing()
    try:
        return CliCommand(skip_version_check=bool(opts.env.get("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK")))
    except FileNotFoundError as exc:
        raise PulumiMissing() from exc


def check_passphrase(opts: StackOptions) -> None:
    if opts.secrets_provider == "passphrase" and not (
            opts.env.get("PULUMI_CONFIG_PASSPHRASE") or opts.env.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise PassphraseMissing()


def workspace(opts: StackOptions) -> auto.LocalWorkspace:
    """The project directory as a workspace; needs the CLI and, for the passphrase provider, a passphrase."""
    command = pulumi_command(opts)
    check_passphrase(opts)
    return auto.LocalWorkspace(
        work_dir=os.path.abspath(opts.project_dir), pulumi_command=command, secrets_provider=opts.secrets_provider,
        env_vars={"PULUMI_BACKEND_URL": backend_url(opts), "PULUMI_SKIP_UPDATE_CHECK": "true"})


def stack_names(ws: auto.LocalWorkspace) -> list[str]:
    try:
        return sorted(s.name for s in ws.list_stacks())
    except auto_errors.CommandError as exc:
        raise _failed("cannot list the stacks", exc) from exc


def open_stack(opts: StackOptions, create: bool = False) -> auto.Stack:
    """Select the stack; with ``create`` a missing stack is created first.

    :raises StackNotFound: the stack does not exist and ``create`` is false; it lists the existing stacks.
    """
    ws = workspace(opts)
    try:
        if create:
            return auto.Stack.create_or_select(opts.stack, ws)
        return auto.Stack.select(opts.stack, ws)
    except auto_errors.StackNotFoundError as exc:
        known = stack_names(ws)
        raise StackNotFound(
            f"stack {opts.stack!r} does not exist in {backend_url(opts)}; existing stacks: "
            f"{', '.join(known) or 'none'}",
            f"check --stack, pass the right --backend, or create it: coldmail stack init {opts.stack}") from exc
    except auto_errors.CommandError as exc:
        raise _failed(f"cannot open stack {opts.stack!r}", exc) from exc


def init_stack(opts: StackOptions) -> bool:
    """Create the stack in the backend; False when it exists already (nothing changes then)."""
    ws = workspace(opts)
    try:
        auto.Stack.create(opts.stack, ws)
    except auto_errors.StackAlreadyExistsError:
        return False
    except auto_errors.CommandError as exc:
        raise _failed(f"cannot create stack {opts.stack!r}", exc) from exc
    return True


def policy_pack(project_dir: str) -> str:
    """The project's CrossGuard pack, which every preview and update runs: a missing pack is an error."""
    path = os.path.join(os.path.abspath(project_dir), "policy")
    if not os.path.isfile(os.path.join(path, "PulumiPolicy.yaml")):
        raise PolicyPackMissing(f"the policy pack {path} is missing, so its mandatory rules cannot run",
                                "restore it: git checkout -- policy")
    return path


def _tail(text: str, n: int = 15) -> str:
    lines = [l for l in (text or "").splitlines() if l.strip()]
    return "\n".join(lines[-n:])


_STREAMS = re.compile(r"\n stdout: (?P<stdout>.*)\n stderr: (?P<stderr>.*)\Z", re.S)


def cli_message(exc: auto_errors.CommandError, n: int = 15) -> str:
    """What the CLI said when it failed: the end of its stderr, else of its stdout.

    The SDK keeps both only inside the error's text (``code: … stdout: … stderr: …``); that text never
    holds the command line.
    """
    m = _STREAMS.search(str(exc))
    if m is None:
        return _tail(str(exc), n)
    return _tail(m.group("stderr"), n) or _tail(m.group("stdout"), n)


def _failed(what: str, exc: auto_errors.CommandError) -> OperationFailed:
    detail = cli_message(exc)
    return OperationFailed(f"{what}: {detail}" if detail else what,
                           "see the log (.coldmail/logs/coldmail.log) and the messages above")


# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------

def has_changes(changes: Mapping[str, int]) -> bool:
    return any(n for op, n in changes.items() if op != "same")


@dataclass
class OperationReport:
    operation: str
    changes: dict[str, int]
    applied: bool
    duration_seconds: Optional[float] = None
    failed_resources: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return has_changes(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "changes": dict(self.changes), "has_changes": self.has_changes,
                "applied": self.applied, "duration_seconds": self.duration_seconds,
                "failed_resources": list(self.failed_resources), "next_steps": list(self.next_steps)}


class ChangesFound(Exception):
    """``preview --expect-no-changes`` found changes."""

    def __init__(self, report: OperationReport):
        super().__init__("the preview found changes")
        self.report = report


OnEvent = Callable[[Any], None]


class _Tap:
    """Wraps the caller's ``on_event`` and keeps what the summary needs."""

    def __init__(self, on_event: Optional[OnEvent]):
        self.on_event, self.summary, self.failed = on_event, None, []

    def __call__(self, event: Any) -> None:
        if event.summary_event is not None:
            self.summary = dict(event.summary_event.resource_changes or {})
        if event.res_op_failed_event is not None:
            self.failed.append(event.res_op_failed_event.metadata.urn)
        if self.on_event is not None:
            self.on_event(event)


def preview(stack: auto.Stack, *, parallel: int = DEFAULT_PARALLEL, expect_no_changes: bool = False,
            diff: bool = False, on_event: Optional[OnEvent] = None) -> OperationReport:
    """A dry run. With ``expect_no_changes`` raises ChangesFound when anything would change."""
    tap, t0 = _Tap(on_event), time.monotonic()
    try:
        result = stack.preview(parallel=parallel, expect_no_changes=expect_no_changes or None, diff=diff or None,
                               policy_packs=[policy_pack(stack.workspace.work_dir)], on_event=tap)
        changes = dict(result.change_summary or {})
    except auto_errors.CommandError as exc:
        if expect_no_changes and tap.summary is not None and has_changes(tap.summary):
            raise ChangesFound(OperationReport("preview", tap.summary, False, time.monotonic() - t0)) from exc
        raise _failed("preview failed", exc) from exc
    report = OperationReport("preview", changes, False, round(time.monotonic() - t0, 3), tap.failed)
    if expect_no_changes and report.has_changes:
        raise ChangesFound(report)
    return report


def _apply(operation: str, run: Callable[..., Any], on_event: Optional[OnEvent], **kwargs: Any) -> tuple[Any, _Tap, float]:
    """Run ``up``/``destroy``/``refresh`` with the event tap; a CLI failure becomes one OperationFailed."""
    tap, t0 = _Tap(on_event), time.monotonic()
    try:
        result = run(on_event=tap, **kwargs)
    except auto_errors.CommandError as exc:
        raise _failed(f"{operation} failed", exc) from exc
    return result, tap, round(time.monotonic() - t0, 3)


def _report(operation: str, result: Any, tap: _Tap, seconds: float, **extra: Any) -> OperationReport:
    changes = dict(result.summary.resource_changes or tap.summary or {})
    return OperationReport(operation, changes, True, seconds, tap.failed, **extra)


def up(stack: auto.Stack, *, parallel: int = DEFAULT_PARALLEL, on_event: Optional[OnEvent] = None) -> OperationReport:
    result, tap, seconds = _apply("up", stack.up, on_event, parallel=parallel,
                                  policy_packs=[policy_pack(stack.workspace.work_dir)])
    return _report("up", result, tap, seconds, outputs=plain_outputs(result.outputs))


def destroy(stack: auto.Stack, *, parallel: int = DEFAULT_PARALLEL,
            on_event: Optional[OnEvent] = None) -> OperationReport:
    return _report("destroy", *_apply("destroy", stack.destroy, on_event, parallel=parallel))


def refresh(stack: auto.Stack, *, parallel: int = DEFAULT_PARALLEL,
            on_event: Optional[OnEvent] = None) -> OperationReport:
    return _report("refresh", *_apply("refresh", stack.refresh, on_event, parallel=parallel))


# --------------------------------------------------------------------------------------------
# Config and outputs
# --------------------------------------------------------------------------------------------

def read_config(stack: auto.Stack) -> dict[str, Any]:
    """The stack's whole config (``ns:key`` → ConfigValue), decrypted in memory only: what the day-2
    capabilities read when the Pulumi CLI can open the stack (secrets included)."""
    try:
        return dict(stack.get_all_config())
    except auto_errors.CommandError as exc:
        raise _failed("cannot read the stack config", exc) from exc


def write_config(stack: auto.Stack, ops: Sequence[ConfigOp]) -> None:
    """Apply the ops in order, each as ``pulumi config set|rm --path``; a secret value goes on stdin.

    :raises OperationFailed: with the CLI's own message; the ops before it are written (callers that
        need all or nothing keep a :class:`coldmail.ops.project.StackFileSnapshot`).
    """
    ws = stack.workspace
    for op in ops:
        try:
            if op.action == "remove":
                stack.remove_config(op.path, path=True)
            elif op.secret:
                env = {**ws.env_vars, **({"PULUMI_HOME": ws.pulumi_home} if ws.pulumi_home else {})}
                ws.pulumi_command.run_with_input(["config", "set", "--path", op.path, "--secret", "--stack",
                                                  stack.name], ws.work_dir, env, op.value or "")
            else:
                stack.set_config(op.path, auto.ConfigValue(op.value or "", secret=False), path=True)
        except auto_errors.CommandError as exc:
            raise OperationFailed(f"writing {op.path} failed: {cli_message(exc, 5) or 'the CLI gave no reason'}",
                                  "nothing was applied; fix the cause and run the command again") from None


def plain_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in (outputs or {}).items()}


def secret_output_keys(outputs: Mapping[str, Any]) -> list[str]:
    return sorted(k for k, v in (outputs or {}).items() if getattr(v, "secret", False))


def stack_outputs(stack: auto.Stack) -> Mapping[str, Any]:
    try:
        return stack.outputs()
    except auto_errors.CommandError as exc:
        raise _failed("cannot read the stack outputs", exc) from exc
