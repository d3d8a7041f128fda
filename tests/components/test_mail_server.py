"""MailServer under the recording mock engine, on the example stack's server (3 floating IPs)."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path

import pulumi
import pytest

from coldmail import model as cm
from coldmail.model.stackfile import raw_from_pulumi
from coldmail.model.stackfile import raw_from_stack_file
from coldmail.ops.mock_engine import ColdmailMocks, run_program
from components import relay as relay_cfg
from components.mail_server import MailServer, MailServerArgs, script_sha256

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "FAKE-TEST-KEY-0000-not-a-real-key"
SSH_KEY = "FAKE-SSH-PRIVATE-KEY-for-tests"
HOST_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK"
HOST_PRIV = "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE-HOST-KEY-for-tests\n-----END OPENSSH PRIVATE KEY-----\n"
T_SERVER, T_FIP, T_RDNS = "hcloud:index/server:Server", "hcloud:index/floatingIp:FloatingIp", "hcloud:index/rdns:Rdns"
T_RECORD, T_CMD, T_COPY = "cloudflare:index/dnsRecord:DnsRecord", "command:remote:Command", "command:remote:CopyToRemote"
T_RELAYHOST = "pulumi-python:dynamic/coldmail:MailcowRelayhost"


class _Mocks(ColdmailMocks):
    """The shared mocks plus a generated host key, as pulumi-tls returns one."""

    def new_resource(self, args):
        rid, outs = super().new_resource(args)
        if args.typ == "tls:index/privateKey:PrivateKey":
            outs.update(publicKeyOpenssh=HOST_PUB + "\n", privateKeyOpenssh=HOST_PRIV)
        return rid, outs


def _raw(**server_overrides) -> dict:
    raw = raw_from_stack_file(str(ROOT / "Pulumi.prod.yaml"))
    raw = copy.deepcopy(raw)
    raw["servers"][0].update({"mailcowApiKey": API_KEY, **server_overrides})
    return raw


def _run(raw: dict):
    def program():
        stack = cm.load(raw_from_pulumi())
        key = pulumi.Config("coldmail").require_secret("sshPrivateKey")
        for s in stack.servers:
            MailServer(s.name, MailServerArgs(server=s, settings=stack, ssh_private_key=key))

    config = {f"coldmail:{k}": v for k, v in raw.items()}
    config["coldmail:sshPrivateKey"] = SSH_KEY
    return run_program(program, config, secret_keys=["coldmail:sshPrivateKey"], mocks=_Mocks())


@pytest.fixture(scope="module")
def run():
    result = _run(_raw())
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
    mail_ports = {"25", "465", "587", "143", "993", "110", "995", "4190", "80", "443"}
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
    ttl = cm.load(_raw()).dns.ttl
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
    adopted = _run(_raw(adoptRelayhosts=True))
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
    raw = _raw()
    del raw["servers"][0]["mailcowApiKey"]
    result = _run(raw)
    assert isinstance(result.error, ValueError)
    assert "pulumi config set --secret --path 'coldmail:servers[0].mailcowApiKey'" in str(result.error)
    assert not result.of_type(T_SERVER)


def test_ubuntu_uses_netplan_and_no_ipv6_means_no_aaaa():
    result = _run(_raw(image="ubuntu-22.04", ipv6=False))
    assert result.error is None, result.error
    assert "METHOD=netplan" in result.named("mx1-floating-ips").inputs["create"]
    assert not [r for r in result.of_type(T_RECORD) if r.inputs["type"] == "AAAA"]
    assert len(result.of_type(T_RDNS)) == 4
    assert result.named("mx1-server").inputs["publicNets"] == [{"ipv4Enabled": True, "ipv6Enabled": False}]


def test_server_without_floating_ips_has_no_relays():
    raw = _raw(floatingIps=0)
    for d in raw["domains"]:
        d["ip"] = 0
    result = _run(raw)
    assert result.error is None, result.error
    assert not result.of_type(T_FIP) and not result.of_type(T_RELAYHOST)
    names = {r.name for r in result.of_type(T_CMD)}
    assert names == {"mx1-cloud-init", "mx1-floating-ips", "mx1-install-mailcow"}
