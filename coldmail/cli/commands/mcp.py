"""``coldmail mcp``: serve the commands to agents over MCP on stdio (the server is :mod:`coldmail.mcp`)."""

from __future__ import annotations

from ..output import Outcome
from ..session import Session


def mcp(session: Session, stack: str, *, allow_apply: bool = False) -> Outcome:
    """Serve until the client closes stdin; a change applies only with its preview's token and ``allow_apply``."""
    # coldmail.mcp sits above the CLI (it runs the commands), so it is imported here, once the server starts.
    from coldmail.mcp import serve

    calls = serve(session, stack, allow_apply=allow_apply)
    # stdout was the protocol channel: the end of a session prints nothing there but a requested --json document.
    return Outcome("mcp", stack=stack, result={"allow_apply": allow_apply, "tool_calls": calls})
