"""Fixtures for the MCP server's tests."""

import pytest

from tests.cli.clikit import make_project


@pytest.fixture
def project(tmp_path) -> str:
    """A copy of the CLI tests' stand-in project with the example prod stack file."""
    return make_project(tmp_path)
