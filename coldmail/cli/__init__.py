"""The ``coldmail`` command line: a thin layer over :mod:`coldmail.cli.commands`."""

from .main import main
from .parser import build_parser

__all__ = ["main", "build_parser"]
