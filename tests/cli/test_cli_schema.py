"""The JSON schemas as data: the checker catches departures, and docs/cli.md's examples conform."""

import json
import os
import re

from coldmail.cli.output import ENVELOPE, RESULT_SCHEMAS, check_document, check_schema

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "cli.md")


def test_the_checker_reports_missing_extra_and_mistyped_keys():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"enum": ["a", "b"]}},
              "required": ["n", "s"], "additionalProperties": False}
    assert check_schema({"n": 1, "s": "a"}, schema) == []
    problems = check_schema({"n": True, "x": 1}, schema)
    assert "$: missing 's'" in problems and "$: unexpected key 'x'" in problems
    assert any(p.startswith("$.n: expected integer") for p in problems)
    assert check_schema({"n": 1, "s": "c"}, schema) == ["$.s: 'c' is not one of ['a', 'b']"]


def _parser_commands(parser) -> set[str]:
    """Every command name the parser can run, read off its leaves."""
    import argparse

    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _parser_commands(sub)
    if parser.get_default("command"):
        found.add(parser.get_default("command"))
    return found


def test_every_command_has_a_result_schema():
    from coldmail.cli import build_parser

    # `check history` runs through the `check` leaf: `history` is one of its KIND words.
    commands = _parser_commands(build_parser()) | {"check history"}
    assert {"plan", "up", "domain add", "credentials export"} <= commands
    assert commands == set(RESULT_SCHEMAS)
    assert check_document({"schema": "coldmail.cli/v1", "command": "up", "ok": True, "exit_code": 0, "stack": "prod",
                           "result": {"operation": "up"}, "errors": [], "warnings": []})  # incomplete result


def test_the_examples_in_docs_cli_md_match_the_schemas():
    text = open(DOC, encoding="utf-8").read()
    blocks = re.findall(r"```json\n(.*?)\n```", text, re.S)
    docs = [json.loads(b) for b in blocks]
    assert {d["command"] for d in docs} >= {"stack init", "plan", "preview", "up", "domain add", "credentials export",
                                            "status"}
    for d in docs:
        assert check_document(d) == [], d["command"]
        assert check_schema(d, ENVELOPE) == []
