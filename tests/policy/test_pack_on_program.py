"""The whole pack over what the real program registers for ``Pulumi.prod.yaml`` under the mock engine.

Resource policies get each resource's inputs, stack policies its outputs and the parent tree, as the
engine hands them over. The example stack must pass every mandatory rule; each deliberate break must
give exactly the violations it should, on the resource it should.
"""

import copy
import os
from collections import Counter

import pytest
import yaml
from pulumi_policy import EnforcementLevel

from coldmail.model import tokens
from coldmail.model.stackfile import raw_from_stack_file, read_stack_file
from coldmail.ops.mock_engine import run_program
from coldmail.ops.plan import placeholder_config
from policy import runner

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKE_API_KEY = "FAKE-test-key-not-real-000000"
FAKE_SSH_KEY = "FAKE-ssh-private-key"
FAKE_HCLOUD = "FAKE-hcloud-token-not-real-0000"


def prod_config(**overrides) -> dict:
    raw = raw_from_stack_file(os.path.join(ROOT, "Pulumi.prod.yaml"))
    for key, value in overrides.items():
        raw[key] = value
    raw["servers"][0]["mailcowApiKey"] = FAKE_API_KEY
    cfg = {f"coldmail:{k}": v for k, v in raw.items()}
    cfg["coldmail:sshPrivateKey"] = FAKE_SSH_KEY
    return cfg


def run(cfg: dict, secret_keys=("coldmail:sshPrivateKey", "coldmail:servers")):
    result = run_program(os.path.join(ROOT, "__main__.py"), cfg, secret_keys=secret_keys)
    assert result.error is None, repr(result.error)
    return result


@pytest.fixture(scope="module")
def prod():
    return run(prod_config())


def violations(resources, config=None):
    resource_args, stack = runner.from_recorded(resources)
    return runner.evaluate(resource_args, stack, config)


def summary(found):
    return Counter((v.policy, v.level.value, (v.urn or "").rsplit("::", 1)[-1]) for v in found)


def named(resources, name):
    [r] = [r for r in resources if r.name == name]
    return r


def edit(r, **props):
    """Change a recorded resource as a broken program would: inputs and outputs alike."""
    r.inputs.update(copy.deepcopy(props))
    r.outputs.update(copy.deepcopy(props))


def test_example_stack_has_no_violation_at_all(prod):
    # The twelve sending domains and the report mailboxes' domain.
    assert len(prod.of_type(tokens.MAILCOW_DOMAIN)) == 13
    assert summary(violations(prod.resources)) == Counter()


def test_example_stack_exercises_every_rule_subject(prod):
    types = {r.type for r in prod.resources}
    assert {tokens.DNS_RECORD, tokens.HCLOUD_SERVER, tokens.FLOATING_IP, tokens.RDNS, tokens.FIREWALL, tokens.MAILCOW_DOMAIN, tokens.MAILCOW_DKIM,
            tokens.MAILCOW_MAILBOX_SET, tokens.MAILCOW_RELAYHOST} <= types
    spf = [r for r in prod.of_type(tokens.DNS_RECORD) if "v=spf1" in str(r.inputs.get("content"))]
    assert len(spf) == 13  # one per sending domain, one of the report domain
    # The mailbox passwords reach the policy as secrets, so the clear-secret rule judges them and passes.
    assert all("passwords" in r.secret_inputs for r in prod.of_type(tokens.MAILCOW_MAILBOX_SET))


def test_deliberately_broken_program_gives_exactly_the_expected_violations(prod):
    resources = copy.deepcopy(prod.resources)
    edit(named(resources, "acme-growth-com-dns-mx"), proxied=True)
    edit(named(resources, "mx1-server"), serverType="cx22")
    spf = named(resources, "tryacme-co-dns-spf")
    edit(spf, content='"v=spf1 ip4:203.0.113.9 -all"')
    firewall = named(resources, "mx1-firewall")
    edit(firewall, rules=firewall.inputs["rules"] + [
        {"direction": "in", "protocol": "tcp", "port": "3306", "sourceIps": ["0.0.0.0/0"]}])
    edit(named(resources, "hello-acme-com-dkim"), key_size=1024.0)

    assert summary(violations(resources)) == Counter({
        ("mail-dns-not-proxied", "mandatory", "acme-growth-com-dns-mx"): 1,
        ("server-type-min-memory", "mandatory", "mx1-server"): 1,
        ("server-type-recommended-memory", "advisory", "mx1-server"): 1,
        ("spf-includes-sending-ip", "mandatory", "tryacme-co-dns-spf"): 1,
        ("firewall-no-internal-ports", "mandatory", "mx1-firewall"): 1,
        ("dkim-key-size", "mandatory", "hello-acme-com-dkim"): 1,
    })


def test_relay_ptr_and_helo_breaks_are_caught_on_the_right_resources(prod):
    resources = copy.deepcopy(prod.resources)
    a_ip2 = next(r for r in resources if r.type == tokens.DNS_RECORD and r.inputs.get("name") == "mx1-ip2.acme-mailops.com"
                 and r.inputs.get("type") == "A")
    resources.remove(a_ip2)
    edit(named(resources, "mx1-relayhost3"), helo_name="mx1.acme-mailops.com")
    found = summary(violations(resources))
    assert found == Counter({("fcrdns-complete", "mandatory", "mx1-rdns2"): 1,
                             ("relay-helo-matches-ptr", "mandatory", "mx1-relayhost3"): 1})


def test_clear_password_in_a_mailbox_set_is_caught(prod):
    resources = copy.deepcopy(prod.resources)
    mailbox_set = named(resources, "meetacme-io-mailboxes-set")
    mailbox_set.secret_inputs.remove("passwords")
    found = violations(resources)
    assert summary(found) == Counter({("dynamic-inputs-no-clear-secrets", "mandatory", "meetacme-io-mailboxes-set"): 1})
    assert "PLACEHOLDER" not in found[0].message


def test_weak_dkim_keys_from_a_program_that_bypasses_the_schema_are_stopped_by_the_pack(prod):
    resources = copy.deepcopy(prod.resources)
    dkims = [r for r in resources if r.type == tokens.MAILCOW_DKIM]
    for r in dkims:
        edit(r, key_size=1024)
    found = summary(violations(resources))
    assert set(found) == {("dkim-key-size", "mandatory", r.name) for r in dkims}
    assert sum(found.values()) == 12


def test_six_mailboxes_and_a_high_send_plan_are_reported_per_domain_at_their_levels():
    raw = raw_from_stack_file(os.path.join(ROOT, "Pulumi.prod.yaml"))
    domains = copy.deepcopy(raw["domains"])
    domains[0]["mailboxes"] = {"count": 6}
    warmup = dict(raw["warmup"], maxPerMailboxPerDay=100, maxPerIpPerDay=2000)
    broken = run(prod_config(domains=domains, warmup=warmup, limits={"maxMailboxesPerDomain": 8,
                                                                    "mailboxHeadroom": 2}))
    found = violations(broken.resources)
    # The report mailboxes send nothing, so no send plan of theirs is judged.
    sets = {r.name for r in broken.of_type(tokens.MAILCOW_MAILBOX_SET)} - {"reports-mailboxes-set"}
    assert summary(found) == Counter(
        {("mailboxes-per-domain", "advisory", "acme-growth-com-mailboxes-set"): 1,
         **{("daily-sends-per-mailbox", "mandatory", name): 1 for name in sets}})
    # A stack that accepts the risk raises the limits in the pack config instead of editing the rules.
    relaxed = {"mailboxes-per-domain": {"maxMailboxesPerDomain": 6},
               "daily-sends-per-mailbox": {"enforcementLevel": "advisory", "maxPerMailboxPerDay": 40}}
    levels = Counter(v.level for v in violations(broken.resources, relaxed))
    assert levels == Counter({EnforcementLevel.ADVISORY: 12})


# --- credentials in clear in the stack config -------------------------------------------------------


def test_credentials_given_without_secret_are_each_a_mandatory_violation_naming_the_fix():
    cfg = dict(prod_config(), **{"hcloud:token": FAKE_HCLOUD})
    result = run(cfg, secret_keys=[])
    assert result.named("mx1").inputs == {"plaintextSecrets": [
        "hcloud:token", "coldmail:sshPrivateKey", "coldmail:servers[0].mailcowApiKey"]}
    found = violations(result.resources)
    assert summary(found) == Counter({("stack-config-secrets-encrypted", "mandatory", "mx1"): 3})
    messages = "\n".join(v.message for v in found)
    assert "pulumi config set --stack prod --secret coldmail:sshPrivateKey < ~/.ssh/coldmail_ed25519" in messages
    assert "pulumi config set --stack prod --secret --path 'coldmail:servers[0].mailcowApiKey'" in messages
    assert "pulumi config set --stack prod --secret hcloud:token" in messages
    for value in (FAKE_SSH_KEY, FAKE_API_KEY, FAKE_HCLOUD):
        assert value not in messages


def test_ssh_key_alone_in_clear_is_the_only_violation():
    found = violations(run(prod_config(), secret_keys=["coldmail:servers"]).resources)
    assert summary(found) == Counter({("stack-config-secrets-encrypted", "mandatory", "mx1"): 1})
    assert found[0].message.startswith("coldmail:sshPrivateKey is in plain text in Pulumi.prod.yaml")


def test_plan_gives_the_program_and_the_pack_the_stack_files_truth_about_secrets(tmp_path):
    config = read_stack_file(os.path.join(ROOT, "Pulumi.prod.yaml"))
    config["coldmail:sshPrivateKey"] = FAKE_SSH_KEY
    config["hcloud:token"] = {"secure": "v1:AAAAencryptedblob"}
    config["coldmail:servers"][0]["mailcowApiKey"] = {"secure": "v1:BBBBencryptedblob"}
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")

    program_config, secret_keys = placeholder_config(read_stack_file(str(path)))
    assert secret_keys == ["hcloud:token", "cloudflare:apiToken", "coldmail:servers"]
    assert FAKE_SSH_KEY not in repr(program_config)
    result = run(program_config, secret_keys=secret_keys)
    found = violations(result.resources)
    assert summary(found) == Counter({("stack-config-secrets-encrypted", "mandatory", "mx1"): 1})
    assert found[0].message.startswith("coldmail:sshPrivateKey is in plain text")
    assert FAKE_SSH_KEY not in repr([(r.inputs, r.outputs) for r in result.resources])


def test_plan_marks_every_credential_key_secret_when_the_stack_file_encrypts_them():
    config = read_stack_file(os.path.join(ROOT, "Pulumi.prod.yaml"))
    config["coldmail:sshPrivateKey"] = {"secure": "v1:AAAAencryptedblob"}
    config["coldmail:servers"][0]["mailcowApiKey"] = {"secure": "v1:BBBBencryptedblob"}
    _, secret_keys = placeholder_config(config)
    assert secret_keys == ["coldmail:sshPrivateKey", "hcloud:token", "cloudflare:apiToken", "coldmail:servers"]
    config["coldmail:servers"][0]["mailcowApiKey"] = FAKE_API_KEY
    _, secret_keys = placeholder_config(config)
    assert secret_keys == ["coldmail:sshPrivateKey", "hcloud:token", "cloudflare:apiToken"]
