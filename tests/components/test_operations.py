"""The on-server agent (Operations) in the whole program, under the recording mock engine."""

from __future__ import annotations

import copy
import json
import os
import re
import sys

import pytest

from coldmail import model
from coldmail.cli.parser import build_parser
from coldmail.model import agentfile
from coldmail.ops.credentials import rows_from_outputs
from components.operations import DOCKERFILE, ROOT, agent_command

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "program"))
from program_helpers import FAKE_API_KEYS, FAKE_SSH_KEY, big_raw, prod_raw, run_main  # noqa: E402

T_PROVIDER = "pulumi:providers:docker"
T_IMAGE, T_VOLUME, T_CONTAINER = "docker:index/image:Image", "docker:index/volume:Volume", "docker:index/container:Container"


@pytest.fixture(scope="module")
def big():
    run = run_main(big_raw())
    assert run.error is None, run.error
    return run


def test_every_server_gets_one_agent_with_its_provider_image_volume_and_container(big):
    ops = big.of_type("coldmail:index:Operations")
    assert sorted(o.name for o in ops) == ["mx1-ops", "mx2-ops", "mx3-ops"]
    for op in ops:
        children = {r.type: r for r in big.resources if r.parent == op.urn}
        assert set(children) == {T_PROVIDER, T_IMAGE, T_VOLUME, T_CONTAINER}
        server = big.named(f"{op.name.removesuffix('-ops')}-server")
        assert children[T_PROVIDER].inputs["host"] == f"ssh://root@{server.outputs['ipv4Address']}"
        for t in (T_IMAGE, T_VOLUME, T_CONTAINER):
            assert children[t].provider.startswith(children[T_PROVIDER].urn)


def test_the_container_runs_the_agent_command_on_the_host_network_with_its_file_and_volume(big):
    c = big.named("mx1-ops-agent").inputs
    assert c["command"] == agent_command("prod") == [
        "coldmail", "agent", "run", "--config", "/etc/coldmail/agent.json", "--stack", "prod", "--project-dir", "/data"]
    parsed = build_parser().parse_args(c["command"][1:])
    assert (parsed.command, parsed.config, parsed.needs_project) == ("agent run", "/etc/coldmail/agent.json", False)
    assert (c["networkMode"], c["restart"]) == ("host", "unless-stopped")
    assert c["volumes"] == [{"volumeName": "coldmail-agent-data", "containerPath": "/data"}]
    assert [(u["file"], u["permissions"]) for u in c["uploads"]] == [("/etc/coldmail/agent.json", "0600")]
    assert c["hosts"] == [{"host": "mx1.ops-example.com", "ip": "127.0.0.1"}]
    assert "uploads" in big.named("mx1-ops-agent").secret_inputs
    # After the relays exist (their greeting is what the HELO check reads) and after the image.
    deps = big.named("mx1-ops-agent").dependencies
    assert big.named("mx1-relays").urn in deps and big.named("mx1-ops-image").urn in deps


def test_the_image_is_built_from_the_repository_with_the_agent_dockerfile(big):
    img = big.named("mx1-ops-image").inputs
    assert img["build"]["context"] == str(ROOT) and img["build"]["dockerfile"] == str(DOCKERFILE)
    assert re.fullmatch(r"coldmail-agent:[0-9a-f]{16}", img["imageName"]) and img["skipPush"] is True
    dockerfile = DOCKERFILE.read_text()
    for source in re.findall(r"^COPY (\S+)", dockerfile, re.M):
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
    assert "# Tests and CI tooling" in (ROOT / "requirements.txt").read_text()  # where runtime pins end


def test_the_agent_file_has_this_servers_addresses_relays_and_key_but_no_ssh_key_or_other_keys(big):
    text = big.named("mx1-ops-agent").inputs["uploads"][0]["content"]
    doc = agentfile.parse(text)
    assert (doc.stack, doc.server, doc.mailcow_url) == ("prod", "mx1", "https://mx1.ops-example.com")
    assert doc.relays == {1: ("172.22.1.1", 2526), 2: ("172.22.1.1", 2527), 3: ("172.22.1.1", 2528)}
    assert doc.resolver == (("172.22.1.254", 53),)
    exported = doc.outputs["servers"]["mx1"]
    assert [f["ptr"] for f in exported["floating_ips"]] == ["mx1-ip1.ops-example.com", "mx1-ip2.ops-example.com",
                                                           "mx1-ip3.ops-example.com"]
    assert exported["ipv4_address"] == big.named("mx1-server").outputs["ipv4Address"]
    assert FAKE_SSH_KEY.strip().splitlines()[1] not in text and "sshPrivateKey" not in doc.config
    assert FAKE_API_KEYS[0] in text and FAKE_API_KEYS[1] not in text and FAKE_API_KEYS[2] not in text


def test_no_agent_when_the_config_turns_it_off():
    raw = copy.deepcopy(prod_raw())
    raw["checks"] = {"agent": False}
    run = run_main(raw)
    assert run.error is None and run.of_type("coldmail:index:Operations") == []


def test_the_agent_file_carries_this_servers_domains_and_mailbox_logins_and_no_other_servers(big):
    doc = agentfile.parse(big.named("mx1-ops-agent").inputs["uploads"][0]["content"])
    config = model.load(big_raw())
    mx1 = [d for d in config.domains if d.server == "mx1"]
    assert sorted(doc.outputs["domains"]) == sorted(d.name for d in mx1) and len(mx1) == 20
    # The summaries are the ones the stack exports, sending IP included.
    assert doc.outputs["domains"] == {name: s for name, s in big.outputs["domains"].items() if s["server"] == "mx1"}
    rows = rows_from_outputs(doc.outputs)
    assert [r["email"] for r in rows] == sorted(m.address for d in mx1 for m in d.mailboxes)
    exported = {r["email"]: r["smtp_password"] for r in rows_from_outputs(big.outputs)}
    assert all(r["smtp_password"] == exported[r["email"]] and r["smtp_host"] == "mx1.ops-example.com" for r in rows)
    assert doc.host_root == "/host"


def test_the_container_reads_the_hosts_backup_tree_read_only_once_the_backup_is_installed(big):
    agent = big.named("mx1-ops-agent")
    assert agent.inputs["mounts"] == [
        {"type": "bind", "source": "/opt/coldmail", "target": "/host/opt/coldmail", "readOnly": True},
        {"type": "bind", "source": "/var/backups/mailcow", "target": "/host/var/backups/mailcow", "readOnly": True}]
    assert big.named("mx1-backups-install").urn in agent.dependencies


def test_with_backups_off_nothing_is_mounted_and_the_agent_file_names_no_host_tree():
    raw = copy.deepcopy(prod_raw())
    raw["backup"] = {"enabled": False}
    run = run_main(raw)
    assert run.error is None, run.error
    agent = run.named("mx1-ops-agent")
    assert "mounts" not in agent.inputs
    assert agentfile.parse(agent.inputs["uploads"][0]["content"]).host_root is None


def test_the_docker_client_verifies_the_pinned_host_key_and_keeps_no_known_hosts_file(big):
    # Provider config reaches the engine JSON-encoded.
    opts = json.loads(big.named("mx1-ops-docker").inputs["sshOpts"])
    pinned = big.named("mx1-host-key").outputs["publicKeyOpenssh"].strip()
    assert opts == ["-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/dev/null",
                    "-o", "GlobalKnownHostsFile=/dev/null", "-o", f"KnownHostsCommand=/bin/echo %H {pinned}",
                    "-o", "BatchMode=yes", "-o", "ConnectTimeout=30"]
    assert big.named("mx2-ops-docker").inputs["sshOpts"] != opts
