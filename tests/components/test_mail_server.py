"""MailServer under the recording mock engine, on the example stack's server (3 floating IPs)."""

from __future__ import annotations

import dataclasses
import ipaddress
import shlex
import shutil
import subprocess

import pytest

from coldmail import model as cm
from components import relay as relay_cfg
from components.mail_server import script_sha256
from tests.support.mail_server_program import (API_KEY, HOST_PUB, SSH_KEY, T_CMD, HostKeyMocks, install_settings,
                                               prod_raw, run_mail_servers)

from coldmail.model.tokens import COPY_TO_REMOTE as T_COPY
from coldmail.model.tokens import DNS_RECORD as T_RECORD
from coldmail.model.tokens import FLOATING_IP as T_FIP
from coldmail.model.tokens import HCLOUD_SERVER as T_SERVER
from coldmail.model.tokens import MAILCOW_RELAYHOST as T_RELAYHOST
from coldmail.model.tokens import RDNS as T_RDNS


@pytest.fixture(scope="module")
def run():
    result = run_mail_servers(prod_raw())
    assert result.error is None, result.error
    return result


def test_exact_hcloud_resources_for_a_server_with_three_floating_ips(run):
    counts = {t: len(run.of_type(t)) for t in (
        "hcloud:index/sshKey:SshKey", "hcloud:index/firewall:Firewall", T_SERVER, T_FIP,
        "hcloud:index/floatingIpAssignment:FloatingIpAssignment", T_RDNS)}
    assert counts == {"hcloud:index/sshKey:SshKey": 1, "hcloud:index/firewall:Firewall": 1, T_SERVER: 1,
                      T_FIP: 3, "hcloud:index/floatingIpAssignment:FloatingIpAssignment": 3, T_RDNS: 5}
    srv = run.named("mx1-server").inputs
    assert (srv["serverType"], srv["image"], srv["location"]) == ("cx42", "debian-12", "fsn1")
    assert all(f.inputs["homeLocation"] == "fsn1" and f.inputs["type"] == "ipv4" for f in run.of_type(T_FIP))


def test_firewall_opens_mail_ports_to_everyone_and_ssh_only_to_admin_cidrs(run):
    rules = run.named("mx1-firewall").inputs["rules"]
    assert all(r["direction"] == "in" and r["protocol"] == "tcp" for r in rules)
    by_port = {r["port"]: r["sourceIps"] for r in rules}
    # POP3 (110, 995) and Sieve (4190) stay closed unless the stack enables them (test below).
    mail_ports = {"25", "465", "587", "143", "993", "80", "443"}
    assert set(by_port) == mail_ports | {"22"}
    assert by_port["22"] == ["203.0.113.0/28"]
    for port in mail_ports:
        assert by_port[port] == ["0.0.0.0/0", "::/0"]
    assert not {"3306", "6379", "8080", "13306"} & set(by_port)


def test_every_ptr_has_a_cloudflare_a_record_with_the_same_ip(run):
    records = {(r.inputs["name"], r.inputs["type"]): r.inputs for r in run.of_type(T_RECORD)}
    ptrs = run.of_type(T_RDNS)
    for rdns in ptrs:
        ip, name = rdns.inputs["ipAddress"], rdns.inputs["dnsPtr"]
        rtype = "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"
        assert records[(name, rtype)]["content"] == ip, f"{name} does not resolve back to {ip}"
        assert records[(name, rtype)]["proxied"] is False
    assert len(records) == len(ptrs)
    primary = run.named("mx1-rdns0").inputs
    assert primary["dnsPtr"] == "mx1.acme-mailops.com"
    assert primary["ipAddress"] == run.named("mx1-server").outputs["ipv4Address"]
    assert "serverId" in primary and "floatingIpId" not in primary
    for n in (1, 2, 3):
        r = run.named(f"mx1-rdns{n}").inputs
        assert "floatingIpId" in r and "serverId" not in r
        assert r["ipAddress"] == run.named(f"mx1-fip{n}").outputs["ipAddress"]
        assert r["dnsPtr"] == f"mx1-ip{n}.acme-mailops.com"


def test_host_records_use_ttl_and_comment_from_config(run):
    ttl = cm.load(prod_raw()).dns.ttl
    for r in run.of_type(T_RECORD):
        assert r.inputs["ttl"] == float(ttl)
        assert r.inputs["comment"] == "managed by coldmail"
        assert not r.inputs["name"].endswith(".")


def test_relayhosts_point_at_the_bridge_port_with_ptr_as_helo(run):
    hosts = {r.name: r.inputs for r in run.of_type(T_RELAYHOST)}
    assert set(hosts) == {"mx1-relayhost1", "mx1-relayhost2", "mx1-relayhost3"}
    for n in (1, 2, 3):
        h = hosts[f"mx1-relayhost{n}"]
        assert h["hostname"] == f"[172.22.1.1]:{2525 + n}"
        assert h["helo_name"] == f"mx1-ip{n}.acme-mailops.com"
        assert h["source_ip"] == run.named(f"mx1-fip{n}").outputs["ipAddress"]
        assert (h["api_url"], h["server"]) == ("https://mx1.acme-mailops.com", "mx1")


def test_relayhosts_are_adopted_only_when_the_server_config_says_so(run):
    assert [r.inputs["adopt"] for r in run.of_type(T_RELAYHOST)] == [False] * 3
    adopted = run_mail_servers(prod_raw(adoptRelayhosts=True))
    assert adopted.error is None, adopted.error
    assert [r.inputs["adopt"] for r in adopted.of_type(T_RELAYHOST)] == [True] * 3


def test_relayhosts_wait_for_mailcow_and_the_relays(run):
    ready, relays = run.named("mx1-install-mailcow").urn, run.named("mx1-relays").urn
    for rh in run.of_type(T_RELAYHOST):
        assert {ready, relays} <= set(rh.dependencies)


def test_relay_files_copied_are_the_renderer_output_for_each_floating_ip(run):
    for n in (1, 2, 3):
        ip = run.named(f"mx1-fip{n}").outputs["ipAddress"]
        expected = relay_cfg.render_files(relay_cfg.RelayConfig.for_server(n, ip, f"mx1-ip{n}.acme-mailops.com"))
        for fname in ("main.cf", "master.cf"):
            copy_res = run.named(f"mx1-copy-relay{n}-{fname.replace('.', '-')}").inputs
            assert copy_res["remotePath"] == f"/opt/coldmail/relays/relay{n}/{fname}"
            assert copy_res["source"].text == expected[fname]
        assert f"smtp_bind_address = {ip}\n" in expected["main.cf"]
        assert f"172.22.1.1:{2525 + n} " in expected["master.cf"]


def test_connection_pins_the_host_key_and_tolerates_a_slow_boot(run):
    for r in run.of_type(T_CMD) + run.of_type(T_COPY):
        conn = r.inputs["connection"]
        assert conn["hostKey"] == HOST_PUB, r.name
        assert conn["dialErrorLimit"] >= 60, r.name
        assert conn["user"] == "root"
        assert "connection" in r.secret_inputs
    assert HOST_PUB in run.named("mx1-server").inputs["userData"]


def test_first_command_waits_for_cloud_init_and_everything_remote_follows_it(run):
    first = run.named("mx1-cloud-init")
    assert first.inputs["create"].startswith("cloud-init status --wait")
    assert run.named("mx1-server").urn in first.dependencies
    for r in run.of_type(T_CMD) + run.of_type(T_COPY):
        if r.name != "mx1-cloud-init":
            assert first.urn in r.dependencies or any(
                first.urn in run.by_urn(d).dependencies for d in r.dependencies), r.name


def test_commands_carry_their_script_sha_so_a_changed_script_reruns(run):
    for key, script in (("floating-ips", "floating-ips.sh"), ("install-mailcow", "install-mailcow.sh"),
                        ("relays", "relays.sh")):
        cmd = run.named(f"mx1-{key}").inputs
        assert f"SCRIPT_SHA256={script_sha256(script)} " in cmd["create"]
        assert f"bash /opt/coldmail/{script}" in cmd["create"]
        assert cmd["addPreviousOutputInEnv"] is False
        assert "environment" not in cmd
        copy_res = run.named(f"mx1-copy-{script.removesuffix('.sh')}").inputs
        assert copy_res["remotePath"] == f"/opt/coldmail/{script}"


def test_install_gets_settings_on_the_command_line_and_secrets_only_on_stdin(run):
    install = run.named("mx1-install-mailcow")
    create = install.inputs["create"]
    for part in ("MAILCOW_HOSTNAME=mx1.acme-mailops.com", "MAILCOW_TZ=Europe/Berlin", "MAILCOW_VERSION=2026-07a",
                 "SKIP_CLAMD=n", "API_ALLOW_FROM=172.22.1.1,127.0.0.1,203.0.113.0/28", "timeout 3600 bash"):
        assert part in create
    assert "stdin" in install.secret_inputs
    assert install.inputs["stdin"].startswith(f"API_KEY={API_KEY}\nADMIN_PASSWORD=PLACEHOLDER")
    for r in run.resources:
        for k, v in r.inputs.items():
            if k not in r.secret_inputs:
                assert API_KEY not in str(v), f"API key in plain input {r.name}.{k}"
                assert SSH_KEY not in str(v), f"SSH key in plain input {r.name}.{k}"
                assert "FAKE-HOST-KEY" not in str(v), f"host private key in plain input {r.name}.{k}"
    assert "userData" in run.named("mx1-server").secret_inputs


def test_floating_ips_are_configured_in_the_os_after_assignment(run):
    cmd = run.named("mx1-floating-ips")
    ips = " ".join(run.named(f"mx1-fip{n}").outputs["ipAddress"] for n in (1, 2, 3))
    assert f"FLOATING_IPS='{ips}'" in cmd.inputs["create"]
    assert "METHOD=ifupdown" in cmd.inputs["create"]  # debian-12
    for n in (1, 2, 3):
        assert run.named(f"mx1-fip{n}-assignment").urn in cmd.dependencies


def test_user_data_is_under_32_kib_and_holds_nothing_that_changes(run):
    user_data = run.named("mx1-server").inputs["userData"]
    assert user_data.startswith("#cloud-config\n")
    assert len(user_data.encode()) < 32 * 1024
    for changeable in ("2026-07a", API_KEY, "198.18.", "Europe/Berlin"):
        assert changeable not in user_data


def test_children_are_parented_and_prefixed_with_the_server_name(run):
    component = run.named("mx1")
    assert component.type == "coldmail:index:MailServer"
    for r in run.resources:
        if r is not component:
            assert r.name.startswith("mx1-"), r.name
            assert r.parent == component.urn, r.name
    urns = [r.urn for r in run.resources]
    assert len(urns) == len(set(urns))


def test_missing_api_key_fails_with_the_command_that_sets_it():
    raw = prod_raw()
    del raw["servers"][0]["mailcowApiKey"]
    result = run_mail_servers(raw)
    assert isinstance(result.error, ValueError)
    assert "pulumi config set --secret --path 'coldmail:servers[0].mailcowApiKey'" in str(result.error)
    assert not result.of_type(T_SERVER)


def test_ubuntu_uses_netplan_and_no_ipv6_means_no_aaaa():
    result = run_mail_servers(prod_raw(image="ubuntu-22.04", ipv6=False))
    assert result.error is None, result.error
    assert "METHOD=netplan" in result.named("mx1-floating-ips").inputs["create"]
    assert not [r for r in result.of_type(T_RECORD) if r.inputs["type"] == "AAAA"]
    assert len(result.of_type(T_RDNS)) == 4
    assert result.named("mx1-server").inputs["publicNets"] == [{"ipv4Enabled": True, "ipv6Enabled": False}]


def test_server_without_floating_ips_has_no_relays():
    raw = prod_raw(floatingIps=0)
    for d in raw["domains"]:
        d["ip"] = 0
    result = run_mail_servers(raw)
    assert result.error is None, result.error
    assert not result.of_type(T_FIP) and not result.of_type(T_RELAYHOST)
    names = {r.name for r in result.of_type(T_CMD)}
    assert names == {"mx1-cloud-init", "mx1-floating-ips", "mx1-install-mailcow"}


def test_pop3_and_sieve_are_opened_and_published_only_when_enabled():
    result = run_mail_servers(prod_raw(pop3=True, sieve=True))
    assert result.error is None, result.error
    by_port = {r["port"]: r["sourceIps"] for r in result.named("mx1-firewall").inputs["rules"]}
    for port in ("110", "995", "4190"):
        assert by_port[port] == ["0.0.0.0/0", "::/0"]
    binds = install_settings(result)["MAILCOW_BINDS"].split()
    assert {"POP_PORT=110", "POPS_PORT=995", "SIEVE_PORT=4190"} <= set(binds)


def test_install_pins_the_commit_and_binds_closed_ports_to_loopback(run):
    settings = install_settings(run)
    assert settings["MAILCOW_COMMIT"] == "489db905122d20487e29c9a8438b311c403442ab"
    assert settings["ENABLE_IPV6"] == "y"
    assert settings["MAILCOW_BINDS"].split() == [
        "SMTP_PORT=25", "SMTPS_PORT=465", "SUBMISSION_PORT=587", "IMAP_PORT=143", "IMAPS_PORT=993",
        "POP_PORT=127.0.0.1:110", "POPS_PORT=127.0.0.1:995", "SIEVE_PORT=127.0.0.1:4190", "HTTP_BIND=", "HTTPS_BIND="]
    assert settings["PINNED_IMAGES"] == "ofelia-mailcow=mcuadros/ofelia:0.3.21 memcached-mailcow=memcached:1.6.45-alpine"
    assert settings["ADMIN_UI_ALLOW"] == ""


def test_ipv4_only_server_binds_every_port_to_ipv4_and_publishes_no_aaaa():
    result = run_mail_servers(prod_raw(ipv6=False))
    assert result.error is None, result.error
    settings = install_settings(result)
    assert settings["ENABLE_IPV6"] == "n"
    assert settings["MAILCOW_BINDS"].split() == [
        "SMTP_PORT=0.0.0.0:25", "SMTPS_PORT=0.0.0.0:465", "SUBMISSION_PORT=0.0.0.0:587", "IMAP_PORT=0.0.0.0:143",
        "IMAPS_PORT=0.0.0.0:993", "POP_PORT=127.0.0.1:110", "POPS_PORT=127.0.0.1:995", "SIEVE_PORT=127.0.0.1:4190",
        "HTTP_BIND=0.0.0.0", "HTTPS_BIND=0.0.0.0"]
    assert not [r for r in result.of_type(T_RECORD) if r.inputs["type"] == "AAAA"]
    assert not [r for r in result.of_type(T_RDNS) if ":" in r.inputs["ipAddress"]]


def test_api_allow_list_is_api_cidrs_apart_from_ssh_and_admin_ui_list_includes_the_host():
    digest = "sha256:" + "cd" * 32
    result = run_mail_servers(prod_raw(apiCidrs=["198.51.100.7/32"], adminUiCidrs=["192.0.2.0/24"],
                                       imageDigests={"ofelia-mailcow": digest}))
    assert result.error is None, result.error
    settings = install_settings(result)
    assert settings["API_ALLOW_FROM"] == "172.22.1.1,127.0.0.1,198.51.100.7/32"
    assert settings["ADMIN_UI_ALLOW"] == "172.22.1.1,127.0.0.1,192.0.2.0/24"
    assert settings["PINNED_IMAGES"] == (f"ofelia-mailcow=mcuadros/ofelia:0.3.21@{digest} "
                                         "memcached-mailcow=memcached:1.6.45-alpine")
    by_port = {r["port"]: r["sourceIps"] for r in result.named("mx1-firewall").inputs["rules"]}
    assert by_port["22"] == ["203.0.113.0/28"]


def test_empty_host_key_is_an_error_never_an_unverified_connection():
    result = run_mail_servers(prod_raw(), mocks=HostKeyMocks(host_pub=""))
    assert isinstance(result.error, ValueError), result.error
    assert "pinned SSH host key is empty" in str(result.error)
    assert not [r for r in result.of_type(T_CMD) if r.inputs.get("connection", {}).get("hostKey") in (None, "")]


def _run_under_shell(command: str, tmp_path) -> dict[str, str]:
    """Run a rendered command as sshd would (``sh -c``), with stand-ins for the programs it starts that
    record their environment instead; returns what the first one saw."""
    bin_dir, seen = tmp_path / "bin", tmp_path / "seen"
    bin_dir.mkdir(exist_ok=True)
    for name in ("timeout", "bash"):
        (bin_dir / name).write_text(f'#!/bin/sh\n[ -e "$SEEN" ] || {shutil.which("env")} >"$SEEN"\n')
        (bin_dir / name).chmod(0o755)
    seen.unlink(missing_ok=True)
    subprocess.run(["/bin/sh", "-c", command], env={"PATH": str(bin_dir), "SEEN": str(seen)}, check=True,
                   timeout=30, cwd=tmp_path)
    return dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)


def test_values_reach_the_remote_shell_as_data_never_as_commands(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"Europe/Berlin;touch {marker};"
    result = run_mail_servers(prod_raw(), server_hook=lambda s: dataclasses.replace(s, timezone=evil))
    assert result.error is None, result.error
    create = result.named("mx1-install-mailcow").inputs["create"]
    env = _run_under_shell(create, tmp_path)
    assert not marker.exists(), "a config value ran as a shell command"
    assert env["MAILCOW_TZ"] == evil
    assert env["MAILCOW_BINDS"] == install_settings(result)["MAILCOW_BINDS"]
    assert shlex.split(create)[-4:] == ["timeout", "3600", "bash", "/opt/coldmail/install-mailcow.sh"]
    fips = _run_under_shell(result.named("mx1-floating-ips").inputs["create"], tmp_path)
    assert len(fips["FLOATING_IPS"].split()) == 3 and fips["METHOD"] == "ifupdown"
    assert _run_under_shell(result.named("mx1-relays").inputs["create"], tmp_path)["RELAYS"] == "1 2 3"


def test_no_secret_in_any_rendered_remote_command(run):
    install = run.named("mx1-install-mailcow")
    admin_password = install.inputs["stdin"].split("ADMIN_PASSWORD=", 1)[1].strip()
    assert admin_password.startswith("PLACEHOLDER")
    secrets = (API_KEY, admin_password, SSH_KEY, "FAKE-HOST-KEY")
    commands = run.of_type(T_CMD)
    assert {c.name for c in commands} == {"mx1-cloud-init", "mx1-floating-ips", "mx1-install-mailcow", "mx1-relays"}
    for cmd in commands:
        for field in ("create", "update", "delete"):
            text = str(cmd.inputs.get(field) or "")
            for secret in secrets:
                assert secret not in text, f"{cmd.name}.{field} carries a secret"
