"""ReportMailboxes under the recording mock engine, wired to stand-in servers."""

import copy

from coldmail import model as cm
from coldmail.model import tokens
from coldmail.model.names import component_name
from components.mail_domain import MailDomain, MailDomainArgs
from components.report_mailboxes import ReportMailboxes, ReportMailboxesArgs
from tests.components.test_mail_domain import IPS, StandInServer
from tests.support.stacks import raw_stack

ALPHA = {"name": "alpha-example.com", "ip": 1, "mailboxes": {"count": 2, "pattern": "user{n}"}}


def run(run_ok, raw):
    stack = cm.load(raw)

    def program():
        servers = {s.name: StandInServer(s) for s in stack.servers}
        domains = {d.name: MailDomain(component_name(d.name), MailDomainArgs(domain=d, settings=stack,
                                                                               server=servers[d.server]))
                   for d in stack.domains}
        rd = stack.report_domain
        ReportMailboxes("reports", ReportMailboxesArgs(
            settings=stack, servers=servers,
            after=(domains[rd.name].mailcow_domain,) if rd and rd.name in domains else ()))

    return stack, run_ok(program)


def children(result, typ):
    comp = result.named("reports")
    return {r.name: r for r in result.of_type(typ) if result.descends_from(r, comp.urn)}


def test_the_report_domain_gets_its_mailcow_domain_mailboxes_and_mx_spf_dmarc(run_ok):
    raw = raw_stack(ALPHA, dns={"tlsRpt": True})
    del raw["dmarc"]
    _, result = run(run_ok, raw)
    (domain,) = children(result, tokens.MAILCOW_DOMAIN).values()
    assert (domain.inputs["domain"], domain.inputs["description"], domain.inputs["max_mailboxes"]) == (
        "ops-example.com", "coldmail: DMARC and TLS reports", 8.0)
    (boxes,) = children(result, tokens.MAILCOW_MAILBOX_SET).values()
    assert [(m["local_part"], m["name"]) for m in boxes.inputs["mailboxes"]] == [
        ("dmarc-reports", "DMARC reports"), ("tls-reports", "TLS reports")]
    assert "daily_send_limit" not in boxes.inputs and boxes.inputs["max_mailboxes"] == 8.0
    assert domain.urn in boxes.dependencies
    records = {r.name: (r.inputs["name"], r.inputs["type"], r.inputs["content"], r.inputs["proxied"])
               for r in children(result, tokens.DNS_RECORD).values()}
    assert records == {
        "reports-dns-report-mx": ("ops-example.com", "MX", "mx1.ops-example.com", False),
        "reports-dns-report-spf": ("ops-example.com", "TXT", f'"v=spf1 ip4:{IPS[0]} ip6:2001:db8::10 -all"', False),
        "reports-dns-report-dmarc": ("_dmarc.ops-example.com", "TXT",
                                     '"v=DMARC1; p=none; rua=mailto:dmarc-reports@ops-example.com"', False),
        "reports-dns-report-auth-0": ("*._report._dmarc.ops-example.com", "TXT", '"v=DMARC1"', False),
    }


def test_a_report_domain_that_sends_gets_only_its_report_mailboxes_and_leaves_the_limits_alone(run_ok):
    raw = raw_stack(ALPHA, {"name": "ops-example.com", "ip": 0, "mailboxes": {"count": 1, "pattern": "user{n}"}})
    del raw["dmarc"]
    _, result = run(run_ok, raw)
    assert children(result, tokens.MAILCOW_DOMAIN) == {}
    (boxes,) = children(result, tokens.MAILCOW_MAILBOX_SET).values()
    assert not {"max_mailboxes", "domain_quota_mb"} & set(boxes.inputs)
    (sending,) = [r for r in result.of_type(tokens.MAILCOW_DOMAIN) if r.name == "ops-example-com-domain"]
    assert sending.urn in boxes.dependencies
    # The sending domain has its own MX, SPF and DMARC: only the authorisation is written here.
    assert [r.inputs["name"] for r in children(result, tokens.DNS_RECORD).values()] == [
        "*._report._dmarc.ops-example.com"]
    mx = [r for r in result.of_type(tokens.DNS_RECORD) if r.inputs["type"] == "MX"
          and r.inputs["name"] == "ops-example.com"]
    assert len(mx) == 1


def test_with_every_report_address_external_nothing_is_made_but_nothing_breaks(run_ok):
    raw = raw_stack(ALPHA, dmarc={"rua": "reports@dmarc-service-example.net"})
    _, result = run(run_ok, copy.deepcopy(raw))
    assert children(result, tokens.MAILCOW_DOMAIN) == {} and children(result, tokens.DNS_RECORD) == {}
