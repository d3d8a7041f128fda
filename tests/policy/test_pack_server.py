"""The pack as the engine sees it: ``policy/__main__.py`` started as a process and spoken to over gRPC.

The engine sends secrets marked and unknowns as sentinels; these tests send exactly that and check what
comes back, so the secret-marker fix and the quiet handling of unknowns are proven on the real path.
"""

import os
import subprocess
import sys

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import proxy as sdk_proxy
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from coldmail.model import tokens
from policy import pack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def analyzer():
    proc = subprocess.Popen([sys.executable, "__main__.py"], cwd=os.path.join(ROOT, "policy"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=""))
    try:
        line = proc.stdout.readline().decode().strip()
        assert line.isdigit(), f"pack did not print its port: {line!r} {proc.stderr.read1().decode()}"
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=10)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def secret(value):
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value}


def analyze(stub, typ, props, name="res"):
    s = struct_pb2.Struct()
    s.update(props)
    resp = stub.Analyze(analyzer_pb2.AnalyzeRequest(type=typ, properties=s, urn=f"urn:pulumi:prod::coldmail::{typ}::{name}",
                                                    name=name), timeout=10)
    return [(d.policyName, d.enforcementLevel, d.message) for d in resp.diagnostics]


def test_pack_serves_every_policy_with_its_level_and_config_schema(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    assert info.name == "coldmail"
    by_name = {p.name: p for p in info.policies}
    assert set(by_name) == {p.name for p in pack.ALL}
    assert by_name["mail-dns-not-proxied"].enforcementLevel == analyzer_pb2.MANDATORY
    assert by_name["mailboxes-per-domain"].enforcementLevel == analyzer_pb2.ADVISORY
    assert by_name["mailboxes-per-domain"].configSchema.properties["maxMailboxesPerDomain"]["default"] == 5
    assert info.initialConfig["daily-sends-per-mailbox"].properties["maxPerMailboxPerDay"] == 40


def test_secret_marked_passwords_pass_and_clear_ones_fail_over_grpc(analyzer):
    props = {"api_url": "https://mx1.acme-mailops.com", "server": "mx1", "domain": "a.com",
             "mailboxes": [{"local_part": "anna"}], "daily_send_limit": 20}
    assert analyze(analyzer, tokens.MAILCOW_MAILBOX_SET, dict(props, passwords=secret({"anna": "FAKE-pw"}))) == []
    found = analyze(analyzer, tokens.MAILCOW_MAILBOX_SET, dict(props, passwords={"anna": "FAKE-pw"}))
    assert [(n, lvl) for n, lvl, _ in found] == [("dynamic-inputs-no-clear-secrets", analyzer_pb2.MANDATORY)]


def test_unknown_values_produce_no_violation_and_no_cant_run_warning(analyzer):
    props = {"zoneId": sdk_proxy.UNKNOWN_STRING_VALUE, "name": "a.com", "type": "MX",
             "content": sdk_proxy.UNKNOWN_STRING_VALUE, "proxied": sdk_proxy.UNKNOWN_BOOLEAN_VALUE}
    assert analyze(analyzer, tokens.DNS_RECORD, props) == []
    fw = {"rules": [{"direction": "in", "protocol": "tcp", "port": sdk_proxy.UNKNOWN_STRING_VALUE,
                     "sourceIps": ["0.0.0.0/0"]}]}
    assert analyze(analyzer, tokens.FIREWALL, fw) == []


def test_proxied_mx_is_mandatory_violation_over_grpc(analyzer):
    found = analyze(analyzer, tokens.DNS_RECORD, {"zoneId": "z", "name": "a.com", "type": "MX",
                                             "content": "mx1.acme-mailops.com", "proxied": True}, name="a-com-dns-mx")
    assert [(n, lvl) for n, lvl, _ in found] == [("mail-dns-not-proxied", analyzer_pb2.MANDATORY)]
    assert "a-com-dns-mx" in found[0][2]


def test_enforcement_level_is_configurable_per_policy(analyzer):
    cfg = analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.DISABLED)
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={"mail-dns-not-proxied": cfg}), timeout=10)
    try:
        assert analyze(analyzer, tokens.DNS_RECORD, {"name": "a.com", "type": "MX", "proxied": True}) == []
    finally:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={}), timeout=10)


def test_credentials_in_clear_named_by_the_mail_server_component_are_mandatory_over_grpc(analyzer):
    assert analyze(analyzer, tokens.MAIL_SERVER, {"plaintextSecrets": []}, name="mx1") == []
    found = analyze(analyzer, tokens.MAIL_SERVER, {"plaintextSecrets": ["coldmail:sshPrivateKey"]}, name="mx1")
    assert [(n, lvl) for n, lvl, _ in found] == [("stack-config-secrets-encrypted", analyzer_pb2.MANDATORY)]
    assert "pulumi config set --stack prod --secret coldmail:sshPrivateKey" in found[0][2]


def test_ssh_open_to_the_whole_internet_through_split_networks_is_mandatory_over_grpc(analyzer):
    rules = [{"direction": "in", "protocol": "tcp", "port": str(p), "sourceIps": ["0.0.0.0/0", "::/0"]}
             for p in (25, 465, 587, 143, 993)]
    rules.append({"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["0.0.0.0/1", "128.0.0.0/1"]})
    found = analyze(analyzer, tokens.FIREWALL, {"rules": rules}, name="mx1-firewall")
    assert [(n, lvl) for n, lvl, _ in found] == [("firewall-ssh-restricted", analyzer_pb2.MANDATORY)]
