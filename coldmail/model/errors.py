"""Config errors: every problem names its config path, what is wrong and the fix."""

from __future__ import annotations

from dataclasses import dataclass

from coldmail.errors import EXIT_BAD_INPUT, ColdmailError


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    """Full config path, e.g. ``coldmail:domains[3].mailboxes.count``."""
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}. Fix: {self.fix}"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "fix": self.fix}


class ConfigError(ColdmailError, ValueError):
    """The stack config is invalid; ``issues`` lists every problem found, each with its fix."""

    kind = "config"
    exit_code = EXIT_BAD_INPUT

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = list(issues)
        super().__init__(f"{len(self.issues)} config error(s):\n" + "\n".join(f"  - {i}" for i in self.issues))
