"""The MCP server: the ``coldmail`` commands as tools for agents, every change previewed before it applies.

A thin adapter over :mod:`coldmail.cli`: each tool writes the command line its command takes, the CLI's
parser checks it and the CLI runs it (``coldmail.cli.main.run``), so an agent gets the same validation and
the same JSON envelope as a person at the terminal. See README "MCP server" and docs/cli.md.
"""

from .server import serve
from .tools import TOOLS, ToolSpec

__all__ = ["serve", "TOOLS", "ToolSpec"]
