"""Helpers for the command's tests: a throw-away project and a runner for ``coldmail.cli.main``."""

from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass
from typing import Any, Optional

import yaml

from coldmail import cli
from coldmail.cli.output import check_document

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE_PROJECT = os.path.join(HERE, "fixture_project")
PASSPHRASE_ENV = {"PULUMI_CONFIG_PASSPHRASE": "test-passphrase-not-a-secret", "PATH": "/usr/bin:/bin"}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def doc(self) -> dict[str, Any]:
        doc = json.loads(self.stdout)
        problems = check_document(doc)
        assert problems == [], problems
        return doc


def make_project(tmp_path) -> str:
    """A copy of the stand-in project with the example prod stack file."""
    d = tmp_path / "proj"
    d.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.prod.yaml"):
        shutil.copy(os.path.join(FIXTURE_PROJECT, name), d / name)
    shutil.copytree(os.path.join(FIXTURE_PROJECT, "policy"), d / "policy")
    return str(d)


def stack_config(project: str, stack: str = "prod") -> dict[str, Any]:
    with open(os.path.join(project, f"Pulumi.{stack}.yaml"), encoding="utf-8") as fh:
        return dict((yaml.safe_load(fh) or {}).get("config") or {})


def raw_of(project: str, stack: str = "prod") -> dict[str, Any]:
    """The ``coldmail:*`` keys of the project's stack file, without the namespace."""
    return {k.split(":", 1)[1]: v for k, v in stack_config(project, stack).items() if k.startswith("coldmail:")}


def run_cli(argv: list[str], project: Optional[str] = None, fake: Any = None, env: Optional[dict] = None,
            stdin: Optional[io.StringIO] = None) -> Run:
    out, err = io.StringIO(), io.StringIO()
    full = list(argv) + (["--project-dir", project] if project and "--project-dir" not in argv else [])
    code = cli.main(full, pulumi_command=fake, env=PASSPHRASE_ENV if env is None else env,
                    stdout=out, stderr=err, stdin=stdin or io.StringIO(""))
    return Run(code, out.getvalue(), err.getvalue())
