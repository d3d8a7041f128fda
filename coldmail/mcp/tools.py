"""Which commands are tools, and their input and output schemas, read off the CLI's parser and envelope.

A tool names a command and the parameters it exposes; its input schema is built from the parser's own
definition of those parameters (type, choices, range, help), its output schema from the envelope and the
command's result schema in :mod:`coldmail.cli.output`. ``destroy`` and every command that only a person
should run (secrets on stdin, restores, server operations) are not tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from coldmail.cli.output import ENVELOPE, RESULT_SCHEMAS
from coldmail.cli.parser import Option, describe


@dataclass(frozen=True)
class ToolSpec:
    """One tool: the command ``words`` it runs with the parameters ``params`` (the parser's ``dest`` names).

    A change (``applies`` set) runs ``words`` as its preview and, with the preview's token, ``applies``
    with ``--yes``.
    """

    name: str
    words: tuple[str, ...]
    params: tuple[str, ...] = ()
    applies: Optional[tuple[str, ...]] = None
    extra: tuple[str, ...] = ()
    """Positionals always given (``check history``)."""
    summary: str = ""
    """Replaces the command's help as the tool's description, when the tool is not the command itself."""
    writes: bool = False
    """Writes a file or the history although it is no change to the stack (a hint for clients)."""

    @property
    def change(self) -> bool:
        return self.applies is not None

    @property
    def command(self) -> str:
        """The envelope's ``command`` of the tool's first (or only) step."""
        return " ".join((*self.words, *self.extra))


EDIT = ("parallel",)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("plan", ("plan",), ("config", "domains", "details")),
    ToolSpec("preview", ("preview",), ("diff", "expect_no_changes", "parallel")),
    ToolSpec("up", ("preview",), EDIT, applies=("up",),
             summary="create or update everything the stack config says"),
    ToolSpec("domain_add", ("domain", "add"), ("name", "server", "ip", "mailboxes", *EDIT), applies=("domain", "add")),
    ToolSpec("domain_remove", ("domain", "remove"), ("name", *EDIT), applies=("domain", "remove")),
    ToolSpec("domain_move", ("domain", "move"), ("name", "ip", *EDIT), applies=("domain", "move")),
    ToolSpec("mailbox_add", ("mailbox", "add"), ("addresses", "name", *EDIT), applies=("mailbox", "add")),
    ToolSpec("mailbox_remove", ("mailbox", "remove"), ("addresses", *EDIT), applies=("mailbox", "remove")),
    ToolSpec("check", ("check",), ("kinds", "nameserver", "outputs"), writes=True,
             summary="check the live stack: DNS, authentication, blacklists, SMTP/TLS, postmaster; records the "
                     "results in the history and alerts on change"),
    ToolSpec("check_history", ("check",), ("since",), extra=("history",),
             summary="what the checks saw over a window: runs, changes, current problems"),
    ToolSpec("reports_summary", ("reports", "summary"), ("since", "domain")),
    ToolSpec("warmup_status", ("warmup", "status"), ("config", "history", "outputs")),
    ToolSpec("warmup_schedule", ("warmup", "schedule"), ("weeks", "config", "history")),
    ToolSpec("credentials_export", ("credentials", "export"), ("out", "format", "force"), writes=True,
             summary="write every mailbox's SMTP/IMAP login to a new 0600 file for a sequencer's bulk import; "
                     "the result lists the accounts without passwords"),
)
BY_NAME = {t.name: t for t in TOOLS}

APPLY = "apply"
APPLY_DESCRIPTION = ("apply a change previewed by up, domain_add, domain_remove, domain_move, mailbox_add or "
                     "mailbox_remove: pass the token that preview returned. Refused when the server was started "
                     "without --allow-apply, or when the stack file or the stack changed since the preview "
                     "(preview again then).")
CHANGE_NOTE = (" This call only previews (nothing is written or applied) and returns a token in `apply.token`; "
               "apply exactly this change with the `apply` tool.")


def options(spec: ToolSpec) -> dict[str, Option]:
    """The tool's parameters, as the parser defines them."""
    _, found = describe(spec.words)
    return {dest: found[dest] for dest in spec.params}


def _property(opt: Option) -> dict[str, Any]:
    one: dict[str, Any] = {"type": opt.type}
    if opt.choices:
        one["enum"] = list(opt.choices)
    if opt.bounds:
        one["minimum"], one["maximum"] = opt.bounds
    prop = {"type": "array", "items": one} if opt.many else dict(one)
    if opt.many and opt.required:
        prop["minItems"] = 1
    if opt.default not in (None, False, []):
        prop["default"] = opt.default
    if opt.help:
        prop["description"] = opt.help
    return prop


def input_schema(spec: ToolSpec) -> dict[str, Any]:
    opts = options(spec)
    return {"type": "object", "properties": {d: _property(o) for d, o in opts.items()},
            "required": [d for d, o in opts.items() if o.required], "additionalProperties": False}


def output_schema(command: Optional[str], change: bool = False) -> dict[str, Any]:
    """The CLI envelope with the command's result schema; a change's preview adds ``apply``."""
    props = dict(ENVELOPE["properties"])
    if command in RESULT_SCHEMAS:
        props["result"] = {"anyOf": [RESULT_SCHEMAS[command], {"type": "null"}]}
    if change:
        props["apply"] = {"type": "object", "properties": {"token": {"type": "string"}, "tool": {"enum": [APPLY]},
                                                           "allowed": {"type": "boolean"}, "note": {"type": "string"}},
                          "required": ["token", "tool", "allowed", "note"], "additionalProperties": False}
    return dict(ENVELOPE, properties=props)


def description(spec: ToolSpec) -> str:
    text = spec.summary or describe(spec.words)[0]
    return text + (CHANGE_NOTE if spec.change else "")


APPLY_INPUT = {"type": "object", "additionalProperties": False, "required": ["token"],
               "properties": {"token": {"type": "string", "description": "the token a change's preview returned"}}}
