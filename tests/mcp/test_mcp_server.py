"""`coldmail mcp` through a real MCP client (the SDK's stdio client) over the recording fake Pulumi CLI:
the tools are the commands, validation errors carry the config path, a change applies only with a fresh
token of its preview on a server started with --allow-apply, and no passphrase or password leaves it."""

from __future__ import annotations

import json
import os
import stat

import anyio

from coldmail.cli.output import check_document
from coldmail.ops.history import History, Observation

from tests.cli.clikit import make_project, run_cli
from tests.cli.fake_pulumi import FakePulumiCommand
from tests.mcp.client import PASSPHRASE, Served, serve
from tests.mcp.launch import ADMIN_PASSWORD, API_KEY, PASSWORDS

NEW = "new-acme.com"


def file_bytes(project: str) -> bytes:
    with open(os.path.join(project, "Pulumi.prod.yaml"), "rb") as fh:
        return fh.read()


def oracle_project(tmp_path) -> str:
    """A second copy of the project, for the CLI run in-process as the oracle."""
    (tmp_path / "cli").mkdir()
    return make_project(tmp_path / "cli")


def envelope(result) -> dict:
    """The tool's structured result, checked against the CLI's envelope and result schemas."""
    doc = dict(result.structured_content)
    doc.pop("apply", None)
    assert check_document(doc) == []
    return result.structured_content


def ups(served) -> list[list[str]]:
    return [c for c in served.record["calls"] if "up" in c[:2]]


def test_the_tools_are_the_commands_an_agent_needs_and_destroy_is_none_of_them(project, tmp_path):
    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served) as c:
            return (await c.session.list_tools()).tools

    tools = {t.name: t for t in anyio.run(scenario)}
    assert sorted(tools) == sorted([
        "plan", "preview", "up", "domain_add", "domain_remove", "domain_move", "mailbox_add", "mailbox_remove",
        "check", "check_history", "reports_summary", "warmup_status", "warmup_schedule", "credentials_export",
        "apply"])
    assert not any("destroy" in name for name in tools)
    # The inputs are the CLI's: the parser's own types, ranges and choices; no way to skip the preview.
    add = tools["domain_add"].input_schema
    assert add["required"] == ["name"] and add["additionalProperties"] is False
    assert sorted(add["properties"]) == ["ip", "mailboxes", "name", "parallel", "server"]
    assert (add["properties"]["parallel"]["minimum"], add["properties"]["parallel"]["maximum"]) == (1, 64)
    assert tools["credentials_export"].input_schema["properties"]["format"]["enum"] == ["csv", "json"]
    assert "show_passwords" not in tools["credentials_export"].input_schema["properties"]
    assert all("yes" not in t.input_schema["properties"] for t in tools.values())
    assert tools["apply"].input_schema["required"] == ["token"]


def test_a_bad_domain_name_is_a_tool_error_with_the_clis_config_path_and_no_pulumi_call(project, tmp_path):
    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served, allow_apply=True) as c:
            return await c.call("domain_add", {"name": "bad_name!.com"})

    result = anyio.run(scenario)
    assert result.is_error
    doc = envelope(result)
    assert (doc["command"], doc["exit_code"], doc["ok"]) == ("domain add", 2, False)
    assert "apply" not in doc
    cli = run_cli(["domain", "add", "bad_name!.com", "--stack", "prod", "--json"], oracle_project(tmp_path),
                  FakePulumiCommand())
    assert doc["errors"] == cli.doc["errors"]
    assert [e["path"] for e in doc["errors"]] == ["coldmail:domains[12].name"]
    assert served.record["calls"] == []


def test_a_parameter_the_cli_rejects_is_a_usage_error_naming_it(project, tmp_path):
    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served, allow_apply=True) as c:
            return [await c.call("domain_add", {"name": NEW, "parallel": 0}),
                    await c.call("domain_add", {"name": NEW, "yes": True}),
                    await c.call("mailbox_add", {"addresses": ["anna.k@acme-growth.com", "--yes"]}),
                    await c.call("check", {"kinds": ["history"]})]

    out_of_range, skip_preview, flag_as_value, history = anyio.run(scenario)
    assert out_of_range.is_error and envelope(out_of_range)["errors"][0]["kind"] == "usage"
    assert "out of range: use 1..64" in out_of_range.structured_content["errors"][0]["message"]
    assert skip_preview.is_error and "unknown parameter(s) yes" in skip_preview.structured_content["errors"][0]["message"]
    # "--yes" is an address here, never the flag: the edit is refused by the schema and nothing applies.
    assert flag_as_value.is_error
    assert flag_as_value.structured_content["errors"][0]["kind"] == "config"
    assert ups(served) == []
    # `check history` has a result of its own: it is the check_history tool, not a kind of check.
    assert history.is_error and history.structured_content["errors"][0]["fix"] == "call check_history"


def test_apply_without_a_token_or_with_one_it_never_gave_is_refused(project, tmp_path):
    before = file_bytes(project)

    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served, allow_apply=True) as c:
            return [await c.call("apply", {}), await c.call("apply", {"token": "made-up-token"})]

    missing, unknown = anyio.run(scenario)
    assert missing.is_error and [e["kind"] for e in envelope(missing)["errors"]] == ["apply_token_missing"]
    assert unknown.is_error and [e["kind"] for e in envelope(unknown)["errors"]] == ["apply_token_unknown"]
    assert file_bytes(project) == before and served.record["calls"] == []


def test_apply_is_refused_when_the_stack_file_changed_after_the_preview(project, tmp_path):
    path = os.path.join(project, "Pulumi.prod.yaml")

    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served, allow_apply=True) as c:
            preview = await c.call("domain_add", {"name": NEW})
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("# edited by hand after the preview\n")
            return preview, await c.call("apply", {"token": preview.structured_content["apply"]["token"]})

    preview, applied = anyio.run(scenario)
    assert not preview.is_error and preview.structured_content["apply"]["allowed"] is True
    assert applied.is_error and [e["kind"] for e in envelope(applied)["errors"]] == ["apply_token_stale"]
    assert "changed since the preview" in applied.structured_content["errors"][0]["message"]
    assert NEW.encode() not in file_bytes(project)
    assert served.record["operations"] == ["preview"] and ups(served) == []


def test_apply_is_refused_when_the_stack_was_updated_after_the_preview(project, tmp_path):
    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served, allow_apply=True) as c:
            up = await c.call("up", {})
            add = await c.call("domain_add", {"name": NEW})
            first = await c.call("apply", {"token": up.structured_content["apply"]["token"]})
            second = await c.call("apply", {"token": add.structured_content["apply"]["token"]})
            return first, second

    first, second = anyio.run(scenario)
    assert not first.is_error and envelope(first)["command"] == "up"
    assert second.is_error and [e["kind"] for e in envelope(second)["errors"]] == ["apply_token_stale"]
    assert "was updated since the preview" in second.structured_content["errors"][0]["message"]
    assert served.record["operations"] == ["preview", "preview", "up"]


def test_apply_is_refused_on_a_server_started_without_allow_apply(project, tmp_path):
    before = file_bytes(project)

    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served) as c:
            preview = await c.call("domain_add", {"name": NEW})
            return preview, await c.call("apply", {"token": preview.structured_content["apply"]["token"]})

    preview, applied = anyio.run(scenario)
    assert preview.structured_content["apply"]["allowed"] is False
    assert applied.is_error and [e["kind"] for e in envelope(applied)["errors"]] == ["apply_not_allowed"]
    assert "--allow-apply" in applied.structured_content["errors"][0]["fix"]
    assert file_bytes(project) == before and ups(served) == []


def test_preview_then_apply_of_domain_add_writes_the_stack_file_as_the_cli_does(project, tmp_path):
    before = file_bytes(project)

    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served, allow_apply=True) as c:
            preview = await c.call("domain_add", {"name": NEW})
            after_preview = file_bytes(project)
            token = preview.structured_content["apply"]["token"]
            return preview, after_preview, await c.call("apply", {"token": token}), await c.call("apply", {"token": token})

    preview, after_preview, applied, again = anyio.run(scenario)
    doc = envelope(preview)
    assert (doc["result"]["applied"], doc["result"]["written"], doc["result"]["preview"]["operation"]) == \
        (False, False, "preview")
    assert after_preview == before
    doc = envelope(applied)
    assert (doc["command"], doc["result"]["applied"], doc["result"]["written"]) == ("domain add", True, True)
    # The oracle: the CLI itself, on a copy of the same project.
    oracle = oracle_project(tmp_path)
    cli = run_cli(["domain", "add", NEW, "--stack", "prod", "--yes", "--json"], oracle, FakePulumiCommand())
    assert cli.code == 0
    assert file_bytes(project) == file_bytes(oracle) != before
    assert doc["result"]["operations"] == cli.doc["result"]["operations"]
    assert served.record["operations"] == ["preview", "up"]
    # A token is good for one apply.
    assert again.is_error and again.structured_content["errors"][0]["kind"] == "apply_token_unknown"


def test_credentials_export_writes_a_0600_file_and_returns_no_password(project, tmp_path):
    out = tmp_path / "mailboxes.json"

    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served) as c:
            return await c.call("credentials_export", {"out": str(out), "format": "json"})

    result = anyio.run(scenario)
    doc = envelope(result)
    assert not result.is_error and (doc["result"]["file"], doc["result"]["count"]) == (str(out), 2)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    written = json.loads(out.read_text())["accounts"]
    assert [a["smtp_password"] for a in written] == list(PASSWORDS)
    text = json.dumps(doc) + "".join(c.text for c in result.content)
    assert not any(pw in text for pw in PASSWORDS)


def test_the_summary_resource_names_servers_domains_mailboxes_and_the_recorded_health(project, tmp_path):
    History(os.path.join(project, ".coldmail", "history.sqlite")).record(
        [Observation("blacklist.zen", "ip:203.0.113.11", "fail", "listed on zen.spamhaus.org", "checks")])

    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served) as c:
            (resource,) = (await c.session.list_resources()).resources
            return resource.uri, await c.read(str(resource.uri))

    uri, summary = anyio.run(scenario)
    assert str(uri) == "coldmail://prod/summary"
    assert [s["name"] for s in summary["servers"]] == ["mx1"]
    assert [ip["ptr"] for ip in summary["servers"][0]["ips"]] == [
        "mx1.acme-mailops.com", "mx1-ip1.acme-mailops.com", "mx1-ip2.acme-mailops.com", "mx1-ip3.acme-mailops.com"]
    assert len(summary["domains"]) == 12 and summary["mailboxes"] == 36
    assert summary["domains"][0]["name"] == "acme-growth.com"
    assert summary["domains"][0]["mailboxes"][:2] == ["anna.berg@acme-growth.com", "jonas.schulz@acme-growth.com"]
    assert summary["deployed"]["servers"]["mx1"]["floating_ips"] == [
        {"index": 1, "ip": "203.0.113.11", "ptr": "mx1-ip1.acme-mailops.com"}]
    assert summary["deployed"]["mailboxes"] == 2
    assert [(p["check"], p["subject"], p["status"]) for p in summary["health"]["problems"]] == [
        ("blacklist.zen", "ip:203.0.113.11", "fail")]
    assert summary["errors"] == {}


def test_no_passphrase_or_password_reaches_a_result_the_log_or_stderr_and_every_call_is_logged(project, tmp_path):
    export = tmp_path / "mailboxes.csv"
    calls = [("plan", {}), ("preview", {}), ("up", {}), ("domain_add", {"name": NEW}),
             ("mailbox_add", {"addresses": ["lena.koch@acme-growth.com"]}), ("check_history", {}),
             ("reports_summary", {}), ("warmup_schedule", {"weeks": 1}), ("warmup_status", {}),
             ("credentials_export", {"out": str(export)})]

    served = Served.at(tmp_path)

    async def scenario():
        async with serve(project, served, allow_apply=True) as c:
            for name, arguments in calls:
                result = await c.call(name, arguments)
                assert not result.is_error, result.structured_content["errors"]
                if name == "domain_add":
                    await c.call("apply", {"token": result.structured_content["apply"]["token"]})
            await c.read("coldmail://prod/summary")

    anyio.run(scenario)
    log_path = os.path.join(project, ".coldmail", "logs", "coldmail.log")
    with open(log_path, encoding="utf-8") as fh:
        log = fh.read()
    assert stat.S_IMODE(os.stat(log_path).st_mode) == 0o600
    secrets = [PASSPHRASE, API_KEY, ADMIN_PASSWORD, *PASSWORDS]
    for text in [*served.results, log, served.stderr]:
        assert not [s for s in secrets if s in text]
    assert PASSWORDS[0] in export.read_text()  # the export itself has them: the check above can fail
    records = [json.loads(line.split("mcp call ", 1)[1]) for line in log.splitlines() if " mcp call " in line]
    assert [r["tool"] for r in records] == [
        "plan", "preview", "up", "domain_add", "apply", "mailbox_add", "check_history", "reports_summary",
        "warmup_schedule", "warmup_status", "credentials_export", "resource coldmail://prod/summary"]
    assert records[3]["arguments"] == {"name": NEW} and records[3]["result"]["command"] == "domain add"
    assert records[4]["arguments"] == {"token": "[secret]"}
    assert all(isinstance(r["duration_seconds"], float) for r in records)


def test_mcp_on_a_stack_without_its_file_stops_at_once_with_the_clis_error(project):
    r = run_cli(["mcp", "--stack", "staging", "--json"], project, FakePulumiCommand())
    assert r.code == 2
    (err,) = r.doc["errors"]
    assert err["kind"] == "usage" and "Pulumi.staging.yaml not found" in err["message"]
