"""``coldmail mcp``: the tools of :mod:`coldmail.mcp.tools` and the stack summary, over MCP on stdio.

Every tool call becomes the command line of its command, parsed by the CLI's parser and run by the CLI
(``coldmail.cli.main.run``); the result is the CLI's JSON envelope. A change runs in two calls: the first
runs the command's preview and returns a token bound to the stack file's bytes and the stack's last
update; ``apply`` with that token runs the command with ``--yes``, only when the server was started with
``--allow-apply`` and neither has changed since. Every call is logged (tool, arguments with secret-named
values masked, result, duration) to the command's own log, ``.coldmail/logs/coldmail.log`` (0600).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.server import Server
from mcp.server.stdio import stdio_server
from pulumi.automation import errors as auto_errors

from coldmail.cli.main import run
from coldmail.cli.output import Outcome
from coldmail.cli.parser import build_parser, command_line
from coldmail.cli.session import Session
from coldmail.errors import EXIT_BAD_INPUT, ColdmailError, UsageError
from coldmail.model.secrets import redact
from coldmail.ops import automation
from coldmail.ops.project import load_stack_file, stack_file

from .tools import (APPLY, APPLY_DESCRIPTION, APPLY_INPUT, BY_NAME, TOOLS, ToolSpec, description, input_schema,
                    output_schema)

LOG = logging.getLogger("coldmail.mcp")
#: The window of the check history the summary resource reports (``check history``'s own default).
HEALTH_WINDOW = "7d"


class ApplyRefused(ColdmailError):
    """``apply`` will not run the change; ``kind`` says why and ``fix`` what to do."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Pending:
    """A previewed change: what ``apply`` runs, and what must not have changed since."""

    spec: ToolSpec
    values: dict[str, Any]
    stack_file_sha256: Optional[str]
    state: str


class Coldmail:
    """The adapter: tool calls in, CLI envelopes out. Calls run one at a time (see :func:`serve`)."""

    def __init__(self, session: Session, stack: str, *, allow_apply: bool = False) -> None:
        # Nobody can answer a question on a terminal, and stdin is the protocol channel.
        self.session = dataclasses.replace(session, interactive=False, stdin=None)
        self.stack, self.allow_apply = stack, allow_apply
        self.parser = build_parser()
        self.pending: dict[str, Pending] = {}
        self.calls = 0

    # --- running commands ----------------------------------------------------------------------
    def run(self, words: Sequence[str], values: Mapping[str, Any], *, yes: bool = False,
            extra: Sequence[str] = ()) -> Outcome:
        """The command ``words`` with ``values``, exactly as ``coldmail <words> … --stack S [--yes]`` runs."""
        try:
            args = self.parser.parse_args(command_line(words, values, stack=self.stack, yes=yes, extra=extra))
        except UsageError as exc:
            return Outcome(" ".join((*words, *extra)), stack=self.stack).fail(exc)
        return run(self.session, args)

    def call(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """One tool call: the envelope document (plus ``apply`` after a change's preview)."""
        if name == APPLY:
            return self.apply(arguments)
        spec = BY_NAME.get(name)
        try:
            if spec is None:
                raise UsageError(f"no tool {name!r}", f"use one of: {', '.join([*BY_NAME, APPLY])}")
            unknown = sorted(set(arguments) - set(spec.params))
            if unknown:
                raise UsageError(f"{name}: unknown parameter(s) {', '.join(unknown)}",
                                 f"use: {', '.join(spec.params) or 'none'}")
            if spec.name == "check" and "history" in (arguments.get("kinds") or []):
                raise UsageError("check: `history` is the check_history tool", "call check_history")
        except UsageError as exc:
            return Outcome(spec.command if spec else name, stack=self.stack).fail(exc).document()
        if spec.change:
            return self.preview(spec, dict(arguments))
        return self.run(spec.words, arguments, extra=spec.extra).document()

    # --- changes: preview, then apply with the token --------------------------------------------
    def _stack_file_sha256(self) -> Optional[str]:
        try:
            with open(stack_file(self.session.project_dir, self.stack), "rb") as fh:
                return hashlib.sha256(fh.read()).hexdigest()
        except FileNotFoundError:
            return None

    def _state(self) -> str:
        """The stack's last update (version, result, end), as the backend records it; ``none`` before any."""
        handle = automation.open_stack(self.session.stack_options(self.stack))
        try:
            last = handle.info(show_secrets=False)
        except auto_errors.CommandError as exc:
            raise automation.OperationFailed(f"cannot read the stack's last update: {automation.cli_message(exc)}",
                                             "see .coldmail/logs/coldmail.log") from exc
        if last is None:
            return "none"
        return json.dumps({"version": last.version, "kind": last.kind, "result": last.result,
                           "end_time": str(last.end_time)}, sort_keys=True)

    def preview(self, spec: ToolSpec, values: dict[str, Any]) -> dict[str, Any]:
        before = self._stack_file_sha256()
        out = self.run(spec.words, values)
        if not out.ok:
            return out.document()
        try:
            if self._stack_file_sha256() != before:
                raise ApplyRefused(f"{stack_file(self.session.project_dir, self.stack)} changed while the preview "
                                   "ran, so the preview shows no known config", "preview again",
                                   kind="apply_token_stale")
            state = self._state()
        except ColdmailError as exc:
            return out.fail(exc).document()
        token = secrets.token_urlsafe(24)
        self.pending[token] = Pending(spec, values, before, state)
        doc = out.document()
        doc["apply"] = {"token": token, "tool": APPLY, "allowed": self.allow_apply,
                        "note": "call apply with this token to apply exactly this change" if self.allow_apply else
                        "this server only previews: start it with `coldmail mcp --allow-apply` to apply changes"}
        return doc

    def apply(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        out = Outcome(APPLY, stack=self.stack)
        token = arguments.get("token")
        pending = self.pending.pop(token, None) if isinstance(token, str) else None
        try:
            unknown = sorted(set(arguments) - {"token"})
            if unknown:
                raise UsageError(f"apply: unknown parameter(s) {', '.join(unknown)}", "pass only token")
            if not self.allow_apply:
                raise ApplyRefused("this MCP server was started without --allow-apply: it previews changes only",
                                   f"apply with the coldmail command, or restart the server with "
                                   f"`coldmail mcp --stack {self.stack} --allow-apply`", kind="apply_not_allowed")
            if pending is None:
                raise ApplyRefused("apply needs the token of a preview of this server" if not token else
                                   "unknown token: it was used already, or this server never returned it",
                                   "call the change's tool first (e.g. domain_add); it previews and returns a token",
                                   kind="apply_token_missing" if not token else "apply_token_unknown")
            path = stack_file(self.session.project_dir, self.stack)
            if self._stack_file_sha256() != pending.stack_file_sha256:
                raise ApplyRefused(f"{path} changed since the preview", f"call {pending.spec.name} again to preview "
                                   "the change on the file as it is now", kind="apply_token_stale")
            if self._state() != pending.state:
                raise ApplyRefused(f"stack {self.stack} was updated since the preview",
                                   f"call {pending.spec.name} again to preview the change on the stack as it is now",
                                   kind="apply_token_stale")
        except ColdmailError as exc:
            return out.fail(exc).document()
        assert pending.spec.applies is not None
        return self.run(pending.spec.applies, pending.values, yes=True).document()

    # --- resources ------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Servers, sending IPs, domains and mailboxes (``plan``), what is deployed (``status``) and the
        health the checks recorded (``check history``): each as its command reports it."""
        plan = self.run(("plan",), {}).document()
        status = self.run(("status",), {}).document()
        health = self.run(("check",), {"since": HEALTH_WINDOW}, extra=("history",)).document()
        return summary_of(self.stack, plan, status, health)

    # --- logging --------------------------------------------------------------------------------
    def logged(self, name: str, arguments: Mapping[str, Any], call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        t0 = time.monotonic()
        self.calls += 1
        doc = call()
        seconds = round(time.monotonic() - t0, 3)
        LOG.info("mcp %s: %s, exit %s, %.1fs", name, "ok" if doc.get("ok") else "failed", doc.get("exit_code"),
                 seconds)
        LOG.debug("mcp call %s", json.dumps({"tool": name, "arguments": redact(arguments),
                                             "duration_seconds": seconds, "result": redact(doc)}, default=str))
        return doc


def summary_of(stack: str, plan: Mapping[str, Any], status: Mapping[str, Any],
               health: Mapping[str, Any]) -> dict[str, Any]:
    """The summary resource from the three envelopes; a part whose command failed is null, its errors kept."""
    p, s, h = plan.get("result") or {}, status.get("result") if status.get("ok") else None, health.get("result")
    return {
        "stack": stack,
        "servers": [{k: srv.get(k) for k in ("name", "hostname", "mailcow_url", "ips")} for srv in p.get("servers", [])],
        "domains": [{"name": d["name"], "server": d["server"], "ip_index": d["ip_index"],
                     "sending_ip": d["sending_ip"], "dmarc_phase": d["dmarc_phase"],
                     "mailboxes": [m["address"] for m in d["mailboxes"]]} for d in p.get("domains", [])],
        "mailboxes": (p.get("summary") or {}).get("mailboxes"),
        "deployed": {"servers": s["servers"], "mailboxes": s["mailboxes"]} if s else None,
        "health": {k: h[k] for k in ("since", "runs", "families", "problems", "changes")} if h else None,
        "errors": {name: doc["errors"] for name, doc in (("plan", plan), ("status", status), ("health", health))
                   if doc.get("errors")},
    }


def _uri(stack: str, what: str) -> str:
    return f"coldmail://{urllib.parse.quote(stack, safe='')}/{what}"


def _tools() -> list[types.Tool]:
    tools = [types.Tool(name=t.name, description=description(t), input_schema=input_schema(t),
                        output_schema=output_schema(t.command, t.change),
                        annotations=types.ToolAnnotations(read_only_hint=not (t.change or t.writes)))
             for t in TOOLS]
    tools.append(types.Tool(name=APPLY, description=APPLY_DESCRIPTION, input_schema=APPLY_INPUT,
                            output_schema=output_schema(None),
                            annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=True)))
    return tools


def build_server(adapter: Coldmail) -> Server:
    """The MCP server over ``adapter``; its handlers run one call at a time, off the event loop."""
    lock = anyio.Lock()
    summary_uri = _uri(adapter.stack, "summary")

    async def in_turn(name: str, arguments: Mapping[str, Any], call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        async with lock:  # a preview writes the stack file and puts it back: no two commands at once
            return await anyio.to_thread.run_sync(functools.partial(adapter.logged, name, arguments, call))

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=_tools())

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        doc = await in_turn(params.name, arguments, lambda: adapter.call(params.name, arguments))
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(doc, indent=2, ensure_ascii=False))],
                                    structured_content=doc, is_error=not doc["ok"])

    async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[types.Resource(
            uri=summary_uri, name=f"{adapter.stack} summary", mime_type="application/json",
            description="the stack's servers, sending IPs, domains and mailboxes (as planned from its config), "
                        f"what is deployed (the stack outputs, secrets masked) and the health the checks recorded "
                        f"over the last {HEALTH_WINDOW}")])

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        if str(params.uri) != summary_uri:
            raise ValueError(f"no resource {params.uri}; this server has {summary_uri}")
        doc = await in_turn(f"resource {summary_uri}", {}, lambda: dict(adapter.summary(), ok=True, exit_code=0))
        doc = {k: v for k, v in doc.items() if k not in ("ok", "exit_code")}
        return types.ReadResourceResult(contents=[types.TextResourceContents(
            uri=summary_uri, mime_type="application/json", text=json.dumps(doc, indent=2, ensure_ascii=False))])

    return Server("coldmail", version=_version(), instructions=INSTRUCTIONS, on_list_tools=list_tools,
                  on_call_tool=call_tool, on_list_resources=list_resources, on_read_resource=read_resource)


INSTRUCTIONS = (
    "coldmail manages one stack of self-hosted cold-email infrastructure (Hetzner, Cloudflare, Mailcow). "
    "Every tool returns the coldmail command's JSON envelope (ok, exit_code, result, errors with the config path "
    "and the fix). Read the stack summary resource first. Changes (up, domain_*, mailbox_*) are previewed: the "
    "first call returns the preview and a token, and `apply` with that token applies exactly that change.")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coldmail")
    except PackageNotFoundError:
        return "0"


def serve(session: Session, stack: str, *, allow_apply: bool = False) -> int:
    """Serve MCP on stdin/stdout until the client closes it; returns how many calls it answered.
    A stack without its file is refused at once."""
    load_stack_file(stack_file(session.project_dir, stack))
    adapter = Coldmail(session, stack, allow_apply=allow_apply)
    server = build_server(adapter)
    LOG.info("mcp: serving stack %s (%s)", stack, "changes apply with a preview's token" if allow_apply
             else "previews only")

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
    return adapter.calls
