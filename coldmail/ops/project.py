"""Where the Pulumi project and its stack files are, and running code as the language host would."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import Any, Iterator, Optional

import yaml

from coldmail.errors import EXIT_BAD_INPUT, ColdmailError
from coldmail.model.stackfile import read_stack_file

_STACK_FILE = re.compile(r"Pulumi\.[^.]+\.ya?ml")
#: ``.coldmail/`` and everything coldmail creates below it.
PRIVATE_DIR_MODE = 0o700


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


def load_stack_file(path: str) -> dict[str, Any]:
    """Every ``ns:key`` of a stack file (encrypted values stay ``{"secure": …}``).

    :raises ColdmailError: exit 2, the file is missing, unreadable, not YAML, or its ``config`` is no mapping.
    """
    if not os.path.isfile(path):
        here = sorted(f for f in os.listdir(os.path.dirname(path) or ".") if _STACK_FILE.fullmatch(f))
        raise ColdmailError(f"stack file {path} not found; stack files here: {', '.join(here) or 'none'}",
                            "check --stack, or write the file (Pulumi.prod.yaml is an example)",
                            kind="usage", exit_code=EXIT_BAD_INPUT)
    try:
        return read_stack_file(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ColdmailError(f"cannot read {path}: {exc}", "fix the YAML: a `config:` mapping of `coldmail:key: value`",
                            kind="usage", exit_code=EXIT_BAD_INPUT) from None


def project_settings(project_dir: str) -> dict[str, Any]:
    with open(os.path.join(project_dir, "Pulumi.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def stack_file(project_dir: str, stack: str) -> str:
    """``Pulumi.<stack>.yaml`` in the project; an ``org/project/stack`` name uses its last part."""
    return os.path.join(project_dir, f"Pulumi.{stack.split('/')[-1]}.yaml")


def private_dir(project_dir: str, *parts: str) -> str:
    """``<project>/.coldmail/<parts…>``, each level created owner-only (0700) and tightened if it is not:
    state, logs and check results can hold what other users of the host must not read."""
    path = os.path.join(os.path.abspath(project_dir), ".coldmail")
    for part in ("", *parts):
        path = os.path.join(path, part) if part else path
        os.makedirs(path, mode=PRIVATE_DIR_MODE, exist_ok=True)
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, PRIVATE_DIR_MODE)
    return path


class StackFileSnapshot:
    """The exact bytes of a stack file, to put back after a preview or a failed write."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as fh:
            self.data = fh.read()

    def restore(self) -> None:
        """Make the file byte-identical to the snapshot."""
        with open(self.path, "wb") as fh:
            fh.write(self.data)


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
