"""The Pulumi Automation API side of the ``coldmail`` command: stacks, operations, config, outputs.

The project directory is the workspace (the local program in ``__main__.py``, its ``Pulumi.yaml`` and
``Pulumi.<stack>.yaml``). State defaults to a file backend inside the project, so nobody needs an
account; secrets default to the passphrase provider with the passphrase from the environment.
``pulumi_command`` is injectable so everything here runs in tests without the real CLI.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from pulumi import automation as auto
from pulumi.automation import errors as auto_errors

from coldmail.errors import EXIT_BAD_INPUT, ColdmailError
from coldmail.ops.edits import ConfigOp

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


@dataclass
class StackOptions:
    project_dir: str
    stack: str
    backend: Optional[str] = None
    """State backend URL; default ``PULUMI_BACKEND_URL`` or ``file://<project>/.coldmail/state``."""
    secrets_provider: str = "passphrase"
    pulumi_command: Optional[auto.PulumiCommand] = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def backend_url(opts: StackOptions) -> str:
    url = opts.backend or opts.env.get("PULUMI_BACKEND_URL")
    if url:
        return url
    state = os.path.join(os.path.abspath(opts.project_dir), ".coldmail", "state")
    os.makedirs(state, exist_ok=True)
    return "file://" + state


def pulumi_command(opts: StackOptions) -> auto.PulumiCommand:
    """The injected command, or the real CLI; raises PulumiMissing at once when it is not installed."""
    if opts.pulumi_command is not None:
        return opts.pulumi_command
    if shutil.which("pulumi", path=opts.env.get("PATH")) is None:
        raise PulumiMissing()
    try:
        return auto.PulumiCommand(skip_version_check=bool(opts.env.get("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK")))
    except FileNotFoundError as exc:
        raise PulumiMissing() from exc


def check_passphrase(opts: StackOptions) -> None:
    if opts.secrets_provider == "passphrase" and not (
            opts.env.get("PULUMI_CONFIG_PASSPHRASE") or opts.env.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise PassphraseMissing()


def open_stack(opts: StackOptions, create: bool = True) -> auto.Stack:
    """Select the stack (creating it when ``create``) with the project directory as the workspace."""
    command = pulumi_command(opts)
    check_passphrase(opts)
    ws = auto.LocalWorkspaceOptions(
        pulumi_command=command,
        secrets_provider=opts.secrets_provider,
        env_vars={"PULUMI_BACKEND_URL": backend_url(opts), "PULUMI_SKIP_UPDATE_CHECK": "true"},
    )
    work_dir = os.path.abspath(opts.project_dir)
    try:
        if create:
            return auto.create_or_select_stack(opts.stack, work_dir=work_dir, opts=ws)
        return auto.select_stack(opts.stack, work_dir=work_dir, opts=ws)
    except auto_errors.StackNotFoundError as exc:
        raise AutomationError(f"stack {opts.stack!r} does not exist in {backend_url(opts)}",
                              f"run `coldmail up --stack {opts.stack}` first, or pass the right --backend") from exc
    except auto_errors.CommandError as exc:
        raise _failed(f"cannot open stack {opts.stack!r}", exc) from exc


def _tail(text: str, n: int = 15) -> str:
    lines = [l for l in (text or "").splitlines() if l.strip()]
    return "\n".join(lines[-n:])


def _failed(what: str, exc: auto_errors.CommandError) -> OperationFailed:
    detail = _tail(getattr(exc, "stderr", "") or str(exc)) or _tail(getattr(exc, "stdout", ""))
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
                               on_event=tap)
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
    result, tap, seconds = _apply("up", stack.up, on_event, parallel=parallel)
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
    """The stack's whole config (``ns:key`` → ConfigValue), decrypted in memory only."""
    try:
        return dict(stack.get_all_config())
    except auto_errors.CommandError as exc:
        raise _failed("cannot read the stack config", exc) from exc


def write_config(stack: auto.Stack, ops: Sequence[ConfigOp]) -> None:
    """Apply the ops in order, each as ``pulumi config set|rm --path``."""
    try:
        for op in ops:
            if op.action == "remove":
                stack.remove_config(op.path, path=True)
            else:
                stack.set_config(op.path, auto.ConfigValue(op.value or "", secret=op.secret), path=True)
    except auto_errors.CommandError as exc:
        # The SDK's message would echo the command line, and with it a secret value.
        raise OperationFailed(f"writing {op.path} failed: {_tail(getattr(exc, 'stderr', ''), 5)}",
                              "the stack file may be half-edited; check `git diff Pulumi.*.yaml`") from None


def plain_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in (outputs or {}).items()}


def secret_output_keys(outputs: Mapping[str, Any]) -> list[str]:
    return sorted(k for k, v in (outputs or {}).items() if getattr(v, "secret", False))


def stack_outputs(stack: auto.Stack) -> Mapping[str, Any]:
    try:
        return stack.outputs()
    except auto_errors.CommandError as exc:
        raise _failed("cannot read the stack outputs", exc) from exc
