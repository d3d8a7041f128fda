"""Where the Pulumi project and its stack files are, and running code as the language host would."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator, Optional

import yaml

from coldmail.errors import EXIT_BAD_INPUT, ColdmailError


class ProjectNotFound(ColdmailError):
    """No ``Pulumi.yaml`` in the given directory or above the current one."""

    kind = "usage"
    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message, "run it inside the project, or pass --project-dir")


def find_project_dir(start: Optional[str] = None) -> str:
    """The directory holding ``Pulumi.yaml``, searched from ``start`` (default: cwd) upward."""
    here = os.path.abspath(start or os.getcwd())
    while True:
        if os.path.isfile(os.path.join(here, "Pulumi.yaml")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            raise ProjectNotFound(f"no Pulumi.yaml in {os.path.abspath(start or os.getcwd())} or any parent")
        here = parent


def project_settings(project_dir: str) -> dict[str, Any]:
    with open(os.path.join(project_dir, "Pulumi.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def stack_file(project_dir: str, stack: str) -> str:
    """``Pulumi.<stack>.yaml`` in the project; an ``org/project/stack`` name uses its last part."""
    return os.path.join(project_dir, f"Pulumi.{stack.split('/')[-1]}.yaml")


def program_path(project_dir: str) -> str:
    main = project_settings(project_dir).get("main") or ""
    base = os.path.join(project_dir, main) if main else project_dir
    return base if base.endswith(".py") else os.path.join(base, "__main__.py")


@contextlib.contextmanager
def in_project(project_dir: str) -> Iterator[None]:
    """Run the program as the Pulumi language host would: cwd and import root at the project."""
    cwd, path = os.getcwd(), list(sys.path)
    os.chdir(project_dir)
    sys.path.insert(0, project_dir)
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path
