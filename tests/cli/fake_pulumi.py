"""A stand-in for the ``pulumi`` CLI behind the Automation API: records every argument list, keeps stack
config in memory, and replays engine events into the ``--event-log`` file the SDK tails.

The version is pinned below 3.205 so the SDK uses its file-based event log rather than a gRPC server.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping, Optional

from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from semver import VersionInfo


def step(op: str, typ: str, name: str, seq: int) -> list[dict[str, Any]]:
    urn = f"urn:pulumi:prod::coldmail::{typ}::{name}"
    md = {"op": op, "urn": urn, "type": typ, "provider": ""}
    return [{"sequence": seq, "timestamp": 0, "resourcePreEvent": {"metadata": md}},
            {"sequence": seq + 1, "timestamp": 0, "resOutputsEvent": {"metadata": md}}]


def events_for(changes: Mapping[str, int]) -> list[dict[str, Any]]:
    """A plausible event stream: a prelude, one pre/outputs pair per resource step, a summary, the end."""
    evs: list[dict[str, Any]] = [{"sequence": 0, "timestamp": 0, "preludeEvent": {"config": {}}}]
    seq = 1
    for op, n in changes.items():
        for k in range(n):
            evs += step(op, "cloudflare:index/dnsRecord:DnsRecord", f"rec-{op}-{k}", seq)
            seq += 2
    evs.append({"sequence": seq, "timestamp": 0,
                "summaryEvent": {"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": dict(changes),
                                 "PolicyPacks": {}}})
    # The CLI ends every event log with a cancel event; the SDK's log watcher stops on it.
    evs.append({"sequence": seq + 1, "timestamp": 0, "cancelEvent": {}})
    return evs


class FakePulumiCommand(PulumiCommand):
    """Records ``calls`` (argument lists as the SDK passes them) and answers like the CLI would."""

    def __init__(self, config: Optional[Mapping[str, Any]] = None, outputs: Optional[Mapping[str, Any]] = None,
                 secret_outputs: tuple[str, ...] = (), changes: Optional[Mapping[str, int]] = None,
                 stacks: tuple[str, ...] = ("prod",), fail: Optional[str] = None) -> None:
        self.command = "pulumi"
        self.version = VersionInfo.parse("3.200.0")
        self.calls: list[list[str]] = []
        self.envs: list[dict[str, str]] = []
        self.cwds: list[str] = []
        self.config = {k: {"value": v if isinstance(v, str) else json.dumps(v), "secret": False}
                       for k, v in (config or {}).items()}
        self.outputs = dict(outputs or {})
        self.secret_outputs = set(secret_outputs)
        self.changes = dict(changes if changes is not None else {"create": 3, "same": 2})
        self.stacks = set(stacks)
        self.fail = fail

    def run(self, args, cwd, additional_env, on_output=None, on_error=None) -> CommandResult:
        args = list(args)
        self.calls.append(args)
        self.envs.append(dict(additional_env))
        self.cwds.append(cwd)
        result = self._answer(args)
        if result.code != 0:
            raise create_command_error(result)
        return result

    # --- the answers ------------------------------------------------------------------------
    def _ok(self, stdout: str = "") -> CommandResult:
        return CommandResult(stdout=stdout, stderr="", code=0)

    def _answer(self, args: list[str]) -> CommandResult:
        stack = args[args.index("--stack") + 1] if "--stack" in args else None
        if args[:2] == ["stack", "select"]:
            if stack not in self.stacks:
                return CommandResult("", f"error: no stack named '{stack}' found", 255)
            return self._ok()
        if args[:2] == ["stack", "init"]:
            self.stacks.add(args[2])
            return self._ok()
        if args[:1] == ["config"] and "--show-secrets" in args and "--json" in args and len(args) <= 5:
            return self._ok(json.dumps(self.config))
        if args[:2] == ["config", "set"]:
            key = [a for a in args[2:args.index("--")] if not a.startswith("--") and a != stack][0]
            self.config.setdefault(key, {"value": args[args.index("--") + 1], "secret": "--secret" in args})
            return self._ok()
        if args[:2] == ["config", "rm"]:
            return self._ok()
        if args[:3] == ["stack", "output", "--json"]:
            show = "--show-secrets" in args
            return self._ok(json.dumps({k: (v if show or k not in self.secret_outputs else "[secret]")
                                        for k, v in self.outputs.items()}))
        if args[:2] == ["stack", "history"]:
            return self._ok(json.dumps([{
                "kind": "update", "startTime": "2026-01-01T00:00:00.000Z", "endTime": "2026-01-01T00:01:00.000Z",
                "message": "", "environment": {}, "config": {}, "result": "succeeded", "version": 1,
                "resourceChanges": self.changes}]))
        if args[0] in ("preview", "up", "destroy", "refresh"):
            if "--event-log" in args:
                with open(args[args.index("--event-log") + 1], "a", encoding="utf-8") as fh:
                    for ev in events_for(self.changes):
                        fh.write(json.dumps(ev) + "\n")
            if self.fail == args[0]:
                return CommandResult("", "error: update failed: resource x: 403 Forbidden", 255)
            changed = any(n for op, n in self.changes.items() if op != "same")
            if "--expect-no-changes" in args and changed:
                return CommandResult("", "error: no changes were expected but changes occurred", 255)
            return self._ok()
        return CommandResult("", f"fake pulumi: unexpected call {args}", 2)


def strip_event_log(args: list[str]) -> list[str]:
    """The argument list with the SDK's temporary event-log path made stable for comparison."""
    out = list(args)
    if "--event-log" in out:
        i = out.index("--event-log")
        out[i + 1] = "<event-log>"
    return [re.sub(r"^--client=.*", "--client=<addr>", a) for a in out]
