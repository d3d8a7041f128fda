"""Shared setup of the component tests: a program under the recording mock engine must run cleanly."""

from typing import Callable

import pytest

from coldmail.ops.mock_engine import ProgramRun, run_program


def _run_ok(program: Callable[[], None]) -> ProgramRun:
    result = run_program(program, config={})
    assert result.error is None, repr(result.error)
    return result


@pytest.fixture(scope="session")
def run_ok() -> Callable[[Callable[[], None]], ProgramRun]:
    """Run ``program`` under the recording mock engine; fails the test if the program raised."""
    return _run_ok
