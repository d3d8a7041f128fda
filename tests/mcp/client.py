"""A real MCP client (the SDK's stdio client) for ``coldmail mcp`` started by :mod:`tests.mcp.launch`."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from mcp import ClientSession, StdioServerParameters, stdio_client

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSPHRASE = "TEST-ONLY-mcp-passphrase-0000"


@dataclass
class Served:
    """What one server run left behind: the Pulumi CLI calls it made and its stderr."""

    record_path: str
    stderr_path: str
    results: list[str] = field(default_factory=list)
    """Every tool result and resource text the client received, as JSON text."""

    @classmethod
    def at(cls, tmp_path) -> "Served":
        return cls(str(tmp_path / "record.json"), str(tmp_path / "stderr.txt"))

    @property
    def record(self) -> dict[str, Any]:
        with open(self.record_path, encoding="utf-8") as fh:
            return json.load(fh)

    @property
    def stderr(self) -> str:
        with open(self.stderr_path, encoding="utf-8") as fh:
            return fh.read()


class Client:
    """The SDK's ClientSession, keeping every result text it received."""

    def __init__(self, session: ClientSession, served: Served) -> None:
        self.session, self.served = session, served

    async def call(self, name: str, arguments: dict[str, Any]):
        result = await self.session.call_tool(name, arguments)
        self.served.results += [c.text for c in result.content]
        self.served.results.append(json.dumps(result.structured_content))
        return result

    async def read(self, uri: str) -> dict[str, Any]:
        result = await self.session.read_resource(uri)
        (content,) = result.contents
        self.served.results.append(content.text)
        return json.loads(content.text)


@contextlib.asynccontextmanager
async def serve(project: str, served: Served, *, allow_apply: bool = False) -> AsyncIterator[Client]:
    """``coldmail mcp --stack prod`` on ``project`` as a subprocess, connected and initialised; ``served``
    has what it left behind once the block is done."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tests.mcp.launch", served.record_path, "mcp", "--stack", "prod", "--project-dir", project,
              *(["--allow-apply"] if allow_apply else [])],
        env={"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE, "PATH": "/usr/bin:/bin", "PYTHONPATH": ROOT},
        cwd=ROOT)
    with open(served.stderr_path, "w", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield Client(session, served)
