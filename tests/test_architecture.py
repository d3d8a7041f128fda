"""The layers of docs/architecture.md hold: every project import is one its layer may make."""

from __future__ import annotations

import ast
import os
from typing import Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = ("coldmail", "components", "dynamic_providers", "policy")
CAPABILITIES = ("coldmail.checks", "coldmail.reports", "coldmail.warmup", "coldmail.backup", "coldmail.hygiene")

# layer prefix -> prefixes it may import (its own prefix is always allowed)
ALLOWED: dict[str, tuple[str, ...]] = {
    "coldmail.errors": (),
    "coldmail.model": ("coldmail.errors",),
    "dynamic_providers": ("coldmail.model", "coldmail.errors"),
    "components": ("coldmail.model", "coldmail.errors", "dynamic_providers"),
    "policy": ("coldmail.model", "coldmail.errors"),
    "coldmail.ops": ("coldmail.errors", "coldmail.model"),
    **{cap: ("coldmail.errors", "coldmail.model", "coldmail.ops", "dynamic_providers") for cap in CAPABILITIES},
    "coldmail.cli": ("coldmail.errors", "coldmail.model", "coldmail.ops", "dynamic_providers", *CAPABILITIES),
    "coldmail.mcp": ("coldmail.errors", "coldmail.model", "coldmail.ops", "dynamic_providers", "coldmail.cli",
                     *CAPABILITIES),
    # The one module of the CLI that starts the server (lazily: the server runs the CLI's commands).
    "coldmail.cli.commands.mcp": ("coldmail.cli", "coldmail.mcp"),
    "__main__": ("coldmail.model", "components"),
    "coldmail.__main__": ("coldmail.cli",),
}
#: Modules that are a layer of their own by exact name (the package's ``__init__``).
EXACT = {"coldmail": ()}
# Third-party modules a layer must not import at module level.
FORBIDDEN_THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "coldmail.model": ("pulumi", "pulumi_cloudflare", "pulumi_hcloud", "pulumi_command", "requests"),
    "coldmail.cli.commands": ("argparse",),
    "coldmail.mcp": ("argparse",),
}


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def _sources() -> Iterator[str]:
    yield os.path.join(ROOT, "__main__.py")
    for top in PROJECT:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                if f.endswith(".py"):
                    yield os.path.join(dirpath, f)


def _layer(module: str) -> str:
    if module in EXACT:
        return module
    for prefix in sorted(ALLOWED, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    raise AssertionError(f"{module} belongs to no layer of docs/architecture.md")


def _imports(path: str, module: str, top_level_only: bool) -> Iterator[tuple[int, str]]:
    """``(line, module)`` per import; ``from pkg import name`` counts as importing ``pkg.name`` only when
    ``pkg`` is a bare top-level package (``from coldmail import model``), else as importing ``pkg``."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}" if node.module else package
            if "." not in base and base in PROJECT or not node.module:
                for alias in node.names:
                    yield node.lineno, f"{base}.{alias.name}"
            else:
                yield node.lineno, base


def _is_project(name: str) -> bool:
    return name.split(".")[0] in PROJECT or name == "__main__"


def _violations() -> list[str]:
    found = []
    for path in _sources():
        module = _module_name(path)
        layer = _layer(module)
        allowed = (layer, *EXACT.get(layer, ALLOWED.get(layer, ())))
        for lineno, name in _imports(path, module, top_level_only=False):
            if not _is_project(name):
                continue
            if not any(name == a or name.startswith(a + ".") for a in allowed):
                found.append(f"{os.path.relpath(path, ROOT)}:{lineno} ({layer}) imports {name}")
        for prefix, banned in FORBIDDEN_THIRD_PARTY.items():
            if module == prefix or module.startswith(prefix + "."):
                for lineno, name in _imports(path, module, top_level_only=True):
                    if name.split(".")[0] in banned:
                        found.append(f"{os.path.relpath(path, ROOT)}:{lineno} ({prefix}) imports {name} at module level")
    return found


def test_every_import_respects_the_layers_of_docs_architecture():
    assert _violations() == []


@pytest.mark.parametrize("source, bad", [
    ("from coldmail.cli import output\n", "coldmail/model/x.py"),
    ("import components\n", "coldmail/ops/x.py"),
    ("from coldmail.warmup import schedule\n", "coldmail/checks/x.py"),
    ("import argparse\n", "coldmail/cli/commands/x.py"),
    ("import pulumi\n", "coldmail/model/x.py"),
])
def test_the_layer_check_catches_a_forbidden_import(tmp_path, monkeypatch, source, bad):
    path = os.path.join(ROOT, bad)
    monkeypatch.setattr(__import__(__name__), "_sources", lambda: iter([path]))
    real_open = open

    def fake_open(p, *a, **kw):
        if p == path:
            f = tmp_path / "src.py"
            f.write_text(source)
            return real_open(f, *a, **kw)
        return real_open(p, *a, **kw)

    monkeypatch.setattr("builtins.open", fake_open)
    assert len(_violations()) == 1
