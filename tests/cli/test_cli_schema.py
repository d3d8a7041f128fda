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


def test_every_command_has_a_result_schema():
    assert set(RESULT_SCHEMAS) == {"plan", "preview", "up", "destroy", "refresh", "status", "domain add",
                                   "domain remove", "mailbox add", "mailbox remove", "server add", "server remove",
                                   "credentials export", "domain move", "check", "check history", "status-page",
                                   "agent run"}
    assert check_document({"schema": "coldmail.cli/v1", "command": "up", "ok": True, "exit_code": 0, "stack": "prod",
                           "result": {"operation": "up"}, "errors": [], "warnings": []})  # incomplete result


def test_the_examples_in_docs_cli_md_match_the_schemas():
    text = open(DOC, encoding="utf-8").read()
    blocks = re.findall(r"```json\n(.*?)\n```", text, re.S)
    docs = [json.loads(b) for b in blocks]
    assert {d["command"] for d in docs} >= {"plan", "preview", "up", "domain add", "credentials export", "status"}
    for d in docs:
        assert check_document(d) == [], d["command"]
        assert check_schema(d, ENVELOPE) == []
