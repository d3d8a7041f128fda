"""Reading raw config values: one reader that collects every problem instead of stopping at the first."""

from __future__ import annotations

import difflib
import json
from typing import Any, Iterable, Mapping, Optional

from .errors import ConfigIssue

NAMESPACE = "coldmail"


def decode(value: Any) -> Any:
    """Structured config as a Python value: the engine hands it to programs and providers as JSON text.

    Text that looks like JSON but does not parse stays text, so the schema reports it as the wrong type.
    """
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def is_secure(value: Any) -> bool:
    """True for an encrypted stack-file value (``{"secure": "…"}``)."""
    return isinstance(value, Mapping) and set(value) == {"secure"}


class Section:
    """Collects issues while reading one mapping; every getter returns a usable default on error."""

    def __init__(self, issues: list[ConfigIssue], path: str, data: Any, known: Iterable[str]):
        self.issues, self.path = issues, path
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.error("", f"must be a mapping, got {type(data).__name__}", "write it as `key: value` lines")
            data = {}
        self.data = data
        known = list(known)
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}"
                self.error(str(key), "unknown key", f"remove it; {hint}")

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if key else self.path

    def error(self, key: str, message: str, fix: str) -> None:
        self.issues.append(ConfigIssue(self.sub(key), message, fix))

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def str(self, key: str, default: Optional[str] = None, required: bool = False, fix: str = "") -> Optional[str]:
        v = self.data.get(key)
        if v is None:
            if required:
                self.error(key, "is required", fix or f"set `{key}`")
            return default
        if not isinstance(v, str):
            self.error(key, f"must be a string, got {v!r}", fix or "quote the value")
            return default
        return v.strip()

    def int(self, key: str, default: int, lo: Optional[int] = None, hi: Optional[int] = None,
            fix: str = "") -> int:
        v = self.data.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            self.error(key, f"must be a whole number, got {v!r}", fix or "write a number like 3")
            return default
        try:
            f = float(v)
            if f != int(f):
                raise ValueError
            n = int(f)
        except ValueError:
            self.error(key, f"must be a whole number, got {v!r}", fix or "write a number like 3")
            return default
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            rng = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
            self.error(key, f"must be {rng}, got {n}", fix or f"use a value in {rng}")
            return default
        return n

    def float(self, key: str, default: float, lo: float, hi: float, fix: str = "") -> float:
        v = self.data.get(key)
        if v is None:
            return default
        try:
            if isinstance(v, bool):
                raise ValueError
            f = float(v)
        except (TypeError, ValueError):
            self.error(key, f"must be a number, got {v!r}", fix or "write a number like 1.5")
            return default
        if not lo <= f <= hi:
            self.error(key, f"must be between {lo} and {hi}, got {f}", fix or f"use a value in {lo}..{hi}")
            return default
        return f

    def bool(self, key: str, default: bool) -> bool:
        v = self.data.get(key)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        self.error(key, f"must be true or false, got {v!r}", "write true or false")
        return default

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        choices = tuple(choices)
        v = self.str(key, default)
        if v not in choices:
            self.error(key, f"must be one of {', '.join(choices)}, got {v!r}", f"use one of {', '.join(choices)}")
            return default
        return v

    def list(self, key: str, required: bool = False, fix: str = "") -> list:
        v = self.data.get(key)
        if v is None:
            if required:
                self.error(key, "is required", fix or f"add a `{key}` list")
            return []
        if not isinstance(v, list):
            self.error(key, f"must be a list, got {type(v).__name__}", fix or "write it as a YAML list")
            return []
        return v


class TopSection(Section):
    """Top-level keys are namespaced with a colon: ``coldmail:servers``, not ``coldmail.servers``."""

    def sub(self, key: str) -> str:
        return f"{NAMESPACE}:{key}" if key else NAMESPACE
