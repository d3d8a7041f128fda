"""A stand-in for the ``pulumi`` CLI behind the Automation API: records every argument list (and every
standard input), edits the stack file the way ``pulumi config set|rm --path`` does, and replays engine
events into the ``--event-log`` file the SDK tails.

The version is pinned below 3.205 so the SDK uses its file-based event log rather than a gRPC server.
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any, Mapping, Optional

import yaml
from pulumi.automation import CommandResult
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from coldmail.ops.automation import CliCommand

FAKE_CIPHERTEXT = "v1:FAKE-CIPHERTEXT"


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


_SEG = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def apply_path(config: dict, key: str, value: Any = None, remove: bool = False) -> None:
    """Pulumi's ``--path`` semantics on a stack file's ``config:``: ``ns:a.b[0].c``; set creates maps and
    lists on the way, rm deletes (shifting a list)."""
    ns, _, path = key.partition(":")
    top, rest = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(.*)", path).groups()
    keys: list[Any] = [f"{ns}:{top}"] + [m.group(1) if m.group(1) is not None else int(m.group(2))
                                          for m in _SEG.finditer(rest)]
    node: Any = config
    for k, nxt in zip(keys, keys[1:]):
        if isinstance(node, list) and k == len(node):
            node.append([] if isinstance(nxt, int) else {})
        elif isinstance(node, dict) and k not in node:
            node[k] = [] if isinstance(nxt, int) else {}
        node = node[k]
    last = keys[-1]
    if remove:
        del node[last]
    elif isinstance(node, list) and last == len(node):
        node.append(value)
    else:
        node[last] = value


class FakePulumiCommand(CliCommand):
    """Records ``calls`` (argument lists as the SDK passes them) and ``inputs`` (what went to stdin)."""

    def __init__(self, outputs: Optional[Mapping[str, Any]] = None, secret_outputs: tuple[str, ...] = (),
                 changes: Optional[Mapping[str, int]] = None, stacks: tuple[str, ...] = ("prod",),
                 fail: Optional[str] = None, fail_config_at: Optional[int] = None,
                 config: Optional[Mapping[str, Any]] = None) -> None:
        self.command = "pulumi"
        self.version = VersionInfo.parse("3.200.0")
        self.calls: list[list[str]] = []
        self.inputs: list[tuple[list[str], str]] = []
        self.envs: list[dict[str, str]] = []
        self.cwds: list[str] = []
        self.outputs = dict(outputs or {})
        self.secret_outputs = set(secret_outputs)
        self.changes = dict(changes if changes is not None else {"create": 3, "same": 2})
        self.stacks = set(stacks)
        self.fail = fail
        self.fail_config_at = fail_config_at
        self.config_writes = 0
        self.secrets: dict[str, str] = {}
        """Plaintext of every secret set through stdin, by key; the stack file only gets ciphertext."""
        self.config = None if config is None else dict(config)
        """Decrypted config ``pulumi config --json`` answers with; None reads the stack file (secrets from stdin)."""
        self.seen: list[tuple[str, dict]] = []
        """``(operation, stack-file config)`` at each preview/up/destroy/refresh: what the engine would run."""

    def run(self, args, cwd, additional_env, on_output=None, on_error=None) -> CommandResult:
        return self._record(list(args), cwd, additional_env, None)

    def run_with_input(self, args, cwd, additional_env, stdin) -> CommandResult:
        return self._record(["--non-interactive", *args], cwd, additional_env, stdin)

    def _record(self, args: list[str], cwd: str, env: Mapping[str, str], stdin: Optional[str]) -> CommandResult:
        self.calls.append(args)
        self.envs.append(dict(env))
        self.cwds.append(cwd)
        if stdin is not None:
            self.inputs.append((args, stdin))
        result = self._answer([a for a in args if a != "--non-interactive"], cwd, stdin)
        if result.code != 0:
            raise create_command_error(result)
        return result

    # --- the answers ------------------------------------------------------------------------
    def _ok(self, stdout: str = "") -> CommandResult:
        return CommandResult(stdout=stdout, stderr="", code=0)

    def _decrypted_config(self, cwd: str, stack: str) -> dict[str, dict[str, Any]]:
        """The config as ``pulumi config --show-secrets --json`` prints it: values as text, secrets decrypted."""
        if self.config is not None:
            return {k: _as_config_value(v, False) for k, v in self.config.items()}
        with open(os.path.join(cwd, f"Pulumi.{stack}.yaml"), encoding="utf-8") as fh:
            config = (yaml.safe_load(fh) or {}).get("config") or {}
        return {k: _as_config_value(self.secrets.get(k, v), isinstance(v, dict) and "secure" in v)
                for k, v in config.items()}

    def _edit_stack_file(self, cwd: str, stack: str, key: str, value: Any = None, remove: bool = False) -> None:
        path = os.path.join(cwd, f"Pulumi.{stack}.yaml")
        doc = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh) or {}
        config = copy.deepcopy(doc.get("config") or {})
        apply_path(config, key, value, remove)
        doc["config"] = config
        with open(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(doc, fh, allow_unicode=True, sort_keys=False)

    def _answer(self, args: list[str], cwd: str, stdin: Optional[str]) -> CommandResult:
        stack = args[args.index("--stack") + 1] if "--stack" in args else None
        if args[:2] == ["stack", "select"]:
            if stack not in self.stacks:
                return CommandResult("", f"error: no stack named '{stack}' found", 255)
            return self._ok()
        if args[:2] == ["stack", "init"]:
            if args[2] in self.stacks:
                return CommandResult("", f"error: stack '{args[2]}' already exists", 255)
            self.stacks.add(args[2])
            return self._ok()
        if args[:3] == ["stack", "ls", "--json"]:
            return self._ok(json.dumps([{"name": s, "current": False} for s in sorted(self.stacks)]))
        if args[:2] in (["config", "set"], ["config", "rm"]):
            self.config_writes += 1
            if self.config_writes == self.fail_config_at:
                return CommandResult("", "error: could not save the stack file: no space left on device", 255)
            if args[1] == "rm":
                self._edit_stack_file(cwd, stack, args[2], remove=True)
                return self._ok()
            key = next(a for a in args[2:] if not a.startswith("--") and a != stack)
            if "--secret" in args:
                self.secrets[key] = stdin if stdin is not None else args[-1]
                self._edit_stack_file(cwd, stack, key, {"secure": FAKE_CIPHERTEXT})
            else:
                self._edit_stack_file(cwd, stack, key, args[args.index("--") + 1])
            return self._ok()
        if args[0] == "config" and "--json" in args:
            return self._ok(json.dumps(self._decrypted_config(cwd, stack)))
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
            path = os.path.join(cwd, f"Pulumi.{stack}.yaml")
            with open(path, encoding="utf-8") as fh:
                self.seen.append((args[0], (yaml.safe_load(fh) or {}).get("config") or {}))
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


def _as_config_value(value: Any, secret: bool) -> dict[str, Any]:
    return {"value": value if isinstance(value, str) else json.dumps(value), "secret": secret}


def strip_event_log(args: list[str]) -> list[str]:
    """The argument list with the SDK's temporary event-log path made stable for comparison."""
    out = list(args)
    if "--event-log" in out:
        i = out.index("--event-log")
        out[i + 1] = "<event-log>"
    return [re.sub(r"^--client=.*", "--client=<addr>", a) for a in out]
