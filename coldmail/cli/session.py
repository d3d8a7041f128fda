"""What every command gets besides its own parameters: where the project is and how to reach the user."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, TextIO

from coldmail.ops import automation


@dataclass
class Session:
    """One caller of the commands: the CLI, the MCP server, an on-server container or a test.

    :param project_dir: the Pulumi project (holds ``Pulumi.yaml``).
    :param env: the environment the Pulumi CLI runs with (passphrase, backend, PATH).
    :param progress: where progress lines go (stderr for the CLI); never the result.
    :param interactive: True when a person can answer :meth:`confirm`.
    :param pulumi_command: an injected ``PulumiCommand`` (tests); None uses the real CLI.
    :param backend: the state backend URL; None means ``$PULUMI_BACKEND_URL`` or the project's file backend.
    :param secrets_provider: for new stacks.
    """

    project_dir: str
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    progress: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: Optional[TextIO] = None
    interactive: bool = False
    pulumi_command: Any = None
    backend: Optional[str] = None
    secrets_provider: str = "passphrase"

    def stack_options(self, stack: str) -> automation.StackOptions:
        return automation.StackOptions(project_dir=self.project_dir, stack=stack, backend=self.backend,
                                       secrets_provider=self.secrets_provider, pulumi_command=self.pulumi_command,
                                       env=self.env)

    def confirm(self, question: str) -> Optional[bool]:
        """Ask on a terminal; None when nobody can answer (``--json``, pipes, CI, agents)."""
        if not self.interactive or self.stdin is None:
            return None
        self.progress.write(f"{question} [y/N] ")
        self.progress.flush()
        return self.stdin.readline().strip().lower() in ("y", "yes")
