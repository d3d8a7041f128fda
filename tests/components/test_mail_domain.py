"""MailDomain under the recording mock engine, with a stand-in for the MailServer it is wired to."""

import copy

import pulumi
import pulumi_random as random
import pytest

from coldmail import model as cm
from coldmail.model import tokens
from coldmail.model.names import component_name
from coldmail.model import records as rec
from coldmail.ops.mock_engine import pending_dkim_key, run_program
from components.mail_domain import MailDomain, MailDomainArgs
from dynamic_providers.relayhost import MailcowRelayhost, MailcowRelayhostArgs
from tests.support.stacks import raw_stack

IPS = ["198.18.0.10", "198.18.0.11", "198.18.0.12"]
IPV6 = "2001:db8::10"
GAMMA_ZONE_ID = "0123456789abcdef0123456789abcdef"

BASE = raw_stack(
    {"name": "alpha-example.com", "ip": 0, "mailboxes": {"count": 2, "pattern": "user{n}"}},
    {"name": "beta-example.com", "ip": 2, "mailboxes": {"count": 3, "pattern": "user{n}"}, "mailboxQuotaMb": 2048},
    {"name": "sub.alpha-example.com", "ip": 1, "mailboxes": [{"localPart": "sales", "name": "Sam Sales"}]},
    {"name": "gamma-example.com", "ip": 1, "zoneId": GAMMA_ZONE_ID, "mailboxes": {"count": 1, "pattern": "user{n}"}},
    limits={"mailboxHeadroom": 2})


class StandInServer:
    """The MailServer attributes MailDomain reads, with fixed IPs and real relayhost resources."""

    def __init__(self, srv: cm.Server):
        self.hostname = srv.hostname
        self.api_url = srv.api_url
        self.ptr_names = [srv.hostname, *srv.ptr_names]
        self.ip_addresses = [pulumi.Output.from_input(ip) for ip in IPS[: 1 + srv.floating_ips]]
        self.ipv6_address = pulumi.Output.from_input(IPV6) if srv.ipv6 else None
        self.ready = random.RandomId(f"{srv.name}-ready", byte_length=4)
        self.relayhost_ids = {
            i: MailcowRelayhost(f"{srv.name}-relayhost-{i}", MailcowRelayhostArgs(
                api_url=srv.api_url, server=srv.name, hostname=f"[172.22.1.1]:{2525 + i}")).relayhost_id
            for i in range(1, srv.floating_ips + 1)}


def run(run_ok, raw):
    stack = cm.load(raw)

    def program():
        servers = {s.name: StandInServer(s) for s in stack.servers}
        for d in stack.domains:
            MailDomain(component_name(d.name), MailDomainArgs(domain=d, settings=stack, server=servers[d.server]))

    return stack, run_ok(program)


@pytest.fixture(scope="module")
def prog(run_ok):
    return run(run_ok, BASE)


def records_of(result, domain_component):
    comp = result.named(domain_component)
    return {r.name.removeprefix(f"{domain_component}-dns-"): r for r in result.of_type(tokens.DNS_RECORD) if r.parent == comp.urn}


def test_every_record_has_exact_name_type_content_and_settings(prog):
    stack, result = prog
    for d in stack.domains:
        comp = component_name(d.name)
        ipv6 = (IPV6,) if d.ip == 0 else ()
        dkim_txt = f"v=DKIM1;k=rsa;t=s;s=email;p={pending_dkim_key(d.name)}"
        want = rec.domain_records(stack, d, rec.SendingAddresses((IPS[d.ip],), ipv6), dkim_txt)
        got = records_of(result, comp)
        assert sorted(got) == sorted(s.key for s in want)
        for spec in want:
            inputs = got[spec.key].inputs
            assert inputs["name"] == spec.name and inputs["type"] == spec.type, spec.key
            assert inputs.get("content") == spec.content, spec.key
            assert inputs.get("priority") == (float(spec.priority) if spec.priority is not None else None)
            if spec.data is not None:
                assert inputs["data"] == {k: float(v) if isinstance(v, int) else v for k, v in spec.data.items()}
            assert inputs["ttl"] == 300.0 and inputs["comment"] == "managed by coldmail"
            assert inputs["proxied"] is False


def test_mx_points_at_the_server_hostname_and_spf_lists_only_the_domains_ip(prog):
    _, result = prog
    beta = records_of(result, "beta-example-com")
    assert (beta["mx"].inputs["content"], beta["mx"].inputs["priority"]) == ("mx1.ops-example.com", 10.0)
    assert beta["spf"].inputs["content"] == '"v=spf1 ip4:198.18.0.12 -all"'
    alpha = records_of(result, "alpha-example-com")
    assert alpha["spf"].inputs["content"] == f'"v=spf1 ip4:198.18.0.10 ip6:{IPV6} -all"'


def test_txt_records_are_in_cloudflare_form_and_concatenate_to_the_raw_value(prog):
    _, result = prog
    for r in result.of_type(tokens.DNS_RECORD):
        if r.inputs["type"] != "TXT":
            continue
        content = r.inputs["content"]
        assert content == rec.cloudflare_txt(rec.txt_value(content)), r.name
        assert all(len(part.encode()) <= 257 for part in content.split('" "')), r.name
    dkim = records_of(result, "beta-example-com")["dkim"].inputs["content"]
    assert dkim.count('" "') == 1  # a 2048-bit key needs two strings
    assert rec.txt_value(dkim) == f"v=DKIM1;k=rsa;t=s;s=email;p={pending_dkim_key('beta-example.com')}"


def test_no_mail_record_is_proxied(prog):
    _, result = prog
    assert result.of_type(tokens.DNS_RECORD)
    assert all(r.inputs.get("proxied") is False for r in result.of_type(tokens.DNS_RECORD))


def test_dkim_record_content_is_derived_from_the_dkim_resource_output(prog):
    _, result = prog
    dkim = result.named("beta-example-com-dkim")
    record = records_of(result, "beta-example-com")["dkim"]
    assert record.inputs["content"] == rec.cloudflare_txt(dkim.outputs["txt_value"])
    assert record.inputs["name"] == dkim.outputs["dns_name"] == "dkim._domainkey.beta-example.com"
    assert dkim.urn in record.property_dependencies["content"]
    assert dkim.urn in record.dependencies
    # Only the DKIM record waits for Mailcow; MX and the rest can exist before the server does.
    assert dkim.urn not in records_of(result, "beta-example-com")["mx"].dependencies


def test_mailcow_resources_wait_for_the_server_and_are_ordered_for_a_safe_destroy(prog):
    _, result = prog
    ready = result.named("mx1-ready").urn
    domain = result.named("beta-example-com-domain")
    dkim = result.named("beta-example-com-dkim")
    mailboxes = result.named("beta-example-com-mailboxes-set")
    for r in (domain, dkim, mailboxes):
        assert ready in r.dependencies, r.name
    # Pulumi deletes dependents first: mailboxes and DKIM go before their domain.
    assert domain.urn in mailboxes.dependencies
    assert domain.urn in dkim.dependencies
    relay2 = result.named("mx1-relayhost-2")
    assert relay2.urn in domain.property_dependencies["relayhost_id"]
    assert domain.inputs["relayhost_id"] == relay2.outputs["relayhost_id"]


def test_domain_on_primary_ip_uses_no_relayhost(prog):
    _, result = prog
    domain = result.named("alpha-example-com-domain")
    assert domain.inputs["relayhost_id"] == "0"
    relays = {r.urn for r in result.of_type(tokens.MAILCOW_RELAYHOST)}
    assert not relays & set(domain.dependencies)


def test_mailcow_domain_is_sized_from_the_config(prog):
    stack, result = prog
    domain = result.named("beta-example-com-domain")
    # 3 mailboxes of 2048 MiB, room to 5 + 2: 7 slots -> 8, 7 x 2048 = 14336 MiB -> 16384.
    limits = {"max_mailboxes": 8, "domain_quota_mb": 16384, "max_mailbox_quota_mb": 16384,
              "default_mailbox_quota_mb": 16384}
    assert {k: domain.inputs[k] for k in ("domain", *limits, "active")} == {
        "domain": "beta-example.com", **limits, "active": True}
    # The domain is created at that size; its mailbox set owns the limits from then on.
    mailbox_set = result.named("beta-example-com-mailboxes-set")
    assert {k: mailbox_set.inputs[k] for k in limits} == limits
    assert {k: domain.inputs[k] for k in ("api_url", "server", "verify_tls")} == {
        "api_url": "https://mx1.ops-example.com", "server": "mx1", "verify_tls": True}
    dkim = result.named("beta-example-com-dkim")
    assert (dkim.inputs["selector"], dkim.inputs["key_size"], dkim.inputs["domain"]) == ("dkim", 2048, "beta-example.com")


def test_every_child_is_parented_and_prefixed_by_its_domain_component(prog):
    stack, result = prog
    for d in stack.domains:
        comp = result.named(component_name(d.name))
        assert comp.type == tokens.MAIL_DOMAIN
        kids = [r for r in result.resources if result.descends_from(r, comp.urn)]
        assert kids and all(r.name.startswith(comp.name + "-") for r in kids)
        assert {r.type for r in kids} >= {tokens.DNS_RECORD, tokens.MAILCOW_DOMAIN, tokens.MAILCOW_DKIM, tokens.MAILCOW_MAILBOX_SET, tokens.MAILBOX_SET}
    assert len({r.urn for r in result.resources}) == len(result.resources)


def test_zone_is_looked_up_once_per_zone_and_never_when_its_id_is_configured(prog):
    _, result = prog
    lookups = [args["filter"]["name"] for token, args in result.invokes if token == tokens.GET_ZONE]
    # The report authorisation lives in the ops zone, written by ReportMailboxes: no domain looks that zone up.
    assert sorted(lookups) == ["alpha-example.com", "beta-example.com"]
    gamma = records_of(result, "gamma-example-com")
    assert not [r for r in gamma.values() if "._report._dmarc." in r.inputs["name"]]
    assert all(r.inputs["zoneId"] == GAMMA_ZONE_ID for r in gamma.values())
    sub = records_of(result, "sub-alpha-example-com")
    alpha = records_of(result, "alpha-example-com")
    assert sub["mx"].inputs["zoneId"] == alpha["mx"].inputs["zoneId"]
    assert sub["mx"].inputs["name"] == "sub.alpha-example.com"


def test_mta_sts_and_tls_rpt_records_follow_the_dns_settings(run_ok):
    raw = copy.deepcopy(BASE)
    raw["dns"] = {"mtaSts": True, "tlsRpt": True, "autoconfig": False, "ttl": 600}
    _, result = run(run_ok, raw)
    got = records_of(result, "beta-example-com")
    assert sorted(got) == ["dkim", "dmarc", "mta-sts", "mta-sts-host", "mx", "spf", "tls-rpt"]
    assert got["tls-rpt"].inputs["content"] == '"v=TLSRPTv1; rua=mailto:tls-reports@ops-example.com"'
    # beta sends from floating IP 2; Mailcow serves HTTPS (and the policy) on the primary address.
    assert (got["mta-sts-host"].inputs["type"], got["mta-sts-host"].inputs["content"]) == ("A", IPS[0])
    assert got["mta-sts"].inputs["content"] == '"v=STSv1; id=f6536413502644ab40d8"'
    assert all(r.inputs["ttl"] == 600.0 and r.inputs["proxied"] is False for r in got.values())
    (policy,) = [r for r in result.of_type(tokens.MAILCOW_MTA_STS) if r.name == "beta-example-com-mta-sts"]
    assert {k: policy.inputs[k] for k in ("domain", "mode", "mx", "max_age", "api_url", "server")} == {
        "domain": "beta-example.com", "mode": "testing", "mx": ["mx1.ops-example.com"], "max_age": 604800.0,
        "api_url": "https://mx1.ops-example.com", "server": "mx1"}
    # The TXT goes out only once Mailcow serves the policy it announces.
    assert policy.urn in got["mta-sts"].dependencies


def test_wrong_server_for_the_domain_is_refused_with_a_clear_error():
    stack = cm.load(BASE)

    class Other:
        hostname = "mx9.elsewhere-example.com"

    def program():
        MailDomain("alpha-example-com", MailDomainArgs(domain=stack.domains[0], settings=stack, server=Other()))

    result = run_program(program, config={})
    assert isinstance(result.error, ValueError)
    assert "configured on server 'mx1'" in str(result.error)
    assert not [r for r in result.resources if r.custom]
