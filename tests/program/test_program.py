"""The whole program (``__main__.py``) under the recording mock engine, on the example stack and a big one.

Every check runs on both ``Pulumi.prod.yaml`` (1 server, 3 floating IPs, 12 domains) and a generated
3-server / 60-domain / 200-mailbox stack. Expected values are written out, or judged by independent
resolvers (pyspf, checkdmarc, dkimpy over dnspython) asking a loopback tokens.DNS_RECORD server that serves exactly the
records the run registered.
"""

import copy
import json

import checkdmarc.dmarc
import dkim.util
import dns.resolver
import spf

from coldmail import model as cm
from coldmail.model import tokens
from coldmail.model.names import component_name
from coldmail.ops.mock_engine import PLACEHOLDER

from program_helpers import FAKE_API_KEYS, FAKE_SSH_KEY, big_raw, run_main

#: What each stack's config asks of every domain's DNS records, written out.
EXPECTED = {
    "prod": {"selector": "dkim", "ttl": 300.0, "fail": "fail", "rua": "dmarc-reports@acme-mailops.com",
             "auth_zone": "acme-mailops.com", "tls_rua": "tls-reports@acme-mailops.com", "mta_sts": False},
    "big": {"selector": "s2026", "ttl": 600.0, "fail": "softfail", "rua": "dmarc@ops-example.com",
            "auth_zone": "ops-example.com", "tls_rua": "tls@ops-example.com", "mta_sts": True},
}


def domain_records(run, domain):
    comp = run.named(component_name(domain.name))
    assert comp.type == tokens.MAIL_DOMAIN
    return run.descendants(comp.urn, tokens.DNS_RECORD)


def only(run, typ, domain):
    found = run.descendants(run.named(component_name(domain.name)).urn, typ)
    assert len(found) == 1, f"{len(found)} {typ} under {domain.name}"
    return found[0]


def server_addresses(run, server: cm.Server):
    """IPv4 per sending-IP index and the IPv6, read from the reverse tokens.DNS_RECORD the program sets (PTR = identity)."""
    ptrs = [(r.inputs["ipAddress"], r.inputs["dnsPtr"]) for r in run.of_type(tokens.RDNS)]
    ipv4s = []
    for sip in server.sending_ips:
        found = [ip for ip, ptr in ptrs if ptr == sip.ptr_name and ":" not in ip]
        assert len(found) == 1, f"{sip.label}: {len(found)} IPv4 PTRs named {sip.ptr_name}"
        ipv4s.append(found[0])
    ipv6 = None
    if server.ipv6:
        found = [ip for ip, ptr in ptrs if ptr == server.hostname and ":" in ip]
        assert len(found) == 1, f"{server.name}: {len(found)} IPv6 PTRs named {server.hostname}"
        ipv6 = found[0]
    return ipv4s, ipv6


def ptr_of(run) -> dict:
    """Every IP the program gives a PTR, with its name."""
    return {r.inputs["ipAddress"]: r.inputs["dnsPtr"] for r in run.of_type(tokens.RDNS)}


def deployed(loaded):
    return loaded.stack.rollout.deployed(loaded.stack.domains)


def test_program_registers_without_error(loaded):
    assert loaded.run.error is None, repr(loaded.run.error)
    assert len(loaded.run.of_type(tokens.MAIL_DOMAIN)) == len(deployed(loaded))
    assert len(loaded.run.of_type(tokens.MAIL_SERVER)) == len(loaded.stack.servers)


def test_the_records_of_acme_growth_com_are_exactly_these(prod):
    ip1 = next(ip for ip, ptr in ptr_of(prod.run).items() if ptr == "mx1-ip1.acme-mailops.com")
    dkim_key = only(prod.run, tokens.MAILCOW_DKIM, prod.stack.domains[0]).outputs["public_key"]
    srv = lambda port: {"priority": 0.0, "weight": 1.0, "port": float(port), "target": "mx1.acme-mailops.com"}  # noqa: E731
    got = sorted((r.inputs["name"], r.inputs["type"], r.inputs.get("content"), r.inputs.get("priority"),
                  r.inputs.get("data")) for r in domain_records(prod.run, prod.stack.domains[0]))
    txt = f"v=DKIM1;k=rsa;t=s;s=email;p={dkim_key}"
    assert got == sorted([
        ("acme-growth.com", "MX", "mx1.acme-mailops.com", 10.0, None),
        ("acme-growth.com", "TXT", f'"v=spf1 ip4:{ip1} -all"', None, None),
        ("dkim._domainkey.acme-growth.com", "TXT", f'"{txt[:255]}" "{txt[255:]}"', None, None),
        ("_dmarc.acme-growth.com", "TXT", '"v=DMARC1; p=none; rua=mailto:dmarc-reports@acme-mailops.com"', None, None),
        ("_smtp._tls.acme-growth.com", "TXT", '"v=TLSRPTv1; rua=mailto:tls-reports@acme-mailops.com"', None, None),
        ("autoconfig.acme-growth.com", "CNAME", "mx1.acme-mailops.com", None, None),
        ("autodiscover.acme-growth.com", "CNAME", "mx1.acme-mailops.com", None, None),
        ("_submission._tcp.acme-growth.com", "SRV", None, None, srv(587)),
        ("_submissions._tcp.acme-growth.com", "SRV", None, None, srv(465)),
        ("_imaps._tcp.acme-growth.com", "SRV", None, None, srv(993)),
        ("_autodiscover._tcp.acme-growth.com", "SRV", None, None, srv(443)),
    ])
    assert len(txt) > 255 and len(txt[255:]) <= 255


def test_every_domain_has_exactly_the_records_its_dns_settings_call_for(loaded):
    e = EXPECTED[loaded.name]
    for d in deployed(loaded):
        n = d.name
        want = {(n, "MX"), (n, "TXT"), (f"{e['selector']}._domainkey.{n}", "TXT"), (f"_dmarc.{n}", "TXT"),
                (f"_smtp._tls.{n}", "TXT"), (f"autoconfig.{n}", "CNAME"), (f"autodiscover.{n}", "CNAME"),
                (f"_submission._tcp.{n}", "SRV"), (f"_submissions._tcp.{n}", "SRV"), (f"_imaps._tcp.{n}", "SRV"),
                (f"_autodiscover._tcp.{n}", "SRV")}
        if e["mta_sts"]:
            want |= {(f"_mta-sts.{n}", "TXT"), (f"mta-sts.{n}", "A")}
        records = domain_records(loaded.run, d)
        assert sorted((r.inputs["name"], r.inputs["type"]) for r in records) == sorted(want), n
        for r in records:
            assert (r.inputs["ttl"], r.inputs["comment"], r.inputs["proxied"]) == (e["ttl"], "managed by coldmail",
                                                                                  False), r.name


def test_a_receiver_resolving_the_planned_dns_accepts_each_domains_mail_and_only_from_its_ip(loaded, monkeypatch):
    """pyspf evaluates SPF, checkdmarc parses DMARC and its report authorisation, dkimpy the DKIM tags:
    all of them over tokens.DNS_RECORD, from a server that answers with exactly the registered records."""
    e, run, planned = EXPECTED[loaded.name], loaded.run, loaded.dns
    resolver = planned.resolver()
    monkeypatch.setattr(dns.resolver, "default_resolver", resolver)
    ptrs = ptr_of(run)
    for d in deployed(loaded):
        server = loaded.stack.server(d.server)
        ipv4s, ipv6 = server_addresses(run, server)
        sending = {ipv4s[d.ip]} | ({ipv6} if d.ip == 0 and ipv6 else set())
        for ip in ptrs:
            result, _ = spf.check2(i=ip, s=f"postmaster@{d.name}", h=ptrs[ipv4s[d.ip]])
            assert result == ("pass" if ip in sending else e["fail"]), (d.name, ip)
        assert [(mx.preference, str(mx.exchange)) for mx in resolver.resolve(d.name, "MX")] == \
            [(10, server.hostname + ".")]
        dmarc = checkdmarc.dmarc.check_dmarc(d.name, resolver=resolver)
        assert dmarc["valid"] and dmarc["location"] == d.name, (d.name, dmarc)
        assert dmarc["tags"]["p"]["value"] == d.dmarc_phase
        assert [u["address"] for u in dmarc["tags"]["rua"]["value"]] == [e["rua"]]
        assert not [w for w in dmarc["warnings"] if "accepts DMARC reports" in w], dmarc["warnings"]
        (dkim_txt,) = planned.strings(f"{e['selector']}._domainkey.{d.name}")
        tags = dkim.util.parse_tag_value(dkim_txt)
        key = only(run, tokens.MAILCOW_DKIM, d).outputs["public_key"]
        assert (tags[b"v"], tags[b"k"], tags[b"p"]) == (b"DKIM1", b"rsa", key.encode())
        assert planned.strings(f"_smtp._tls.{d.name}") == [f"v=TLSRPTv1; rua=mailto:{e['tls_rua']}".encode()]


def test_ptr_and_a_records_agree_for_every_ip(loaded):
    resolver = loaded.dns.resolver()
    ptrs = ptr_of(loaded.run)
    assert len(ptrs) >= sum(len(s.sending_ips) for s in loaded.stack.servers)
    for ip, name in ptrs.items():
        rtype = "AAAA" if ":" in ip else "A"
        # One name, one address per family: a receiver's FCrDNS check must land on exactly the sending IP.
        assert [a.address for a in resolver.resolve(name, rtype)] == [ip], (ip, name)


def test_dkim_record_waits_for_and_is_made_from_the_mailcow_dkim_output(loaded):
    run, e = loaded.run, EXPECTED[loaded.name]
    for d in deployed(loaded):
        dkim_res = only(run, tokens.MAILCOW_DKIM, d)
        (record,) = [r for r in domain_records(run, d) if r.inputs["name"] == f"{e['selector']}._domainkey.{d.name}"]
        assert loaded.dns.strings(record.inputs["name"]) == [dkim_res.outputs["txt_value"].encode()]
        assert dkim_res.urn in record.property_dependencies["content"]


def test_no_dns_record_is_proxied(loaded):
    records = loaded.run.of_type(tokens.DNS_RECORD)
    assert records
    proxied = [r.name for r in records if r.inputs.get("proxied") not in (False, None)]
    assert proxied == []


def test_urns_are_unique(loaded):
    urns = [r.urn for r in loaded.run.resources]
    assert len(urns) == len(set(urns))


def test_destroy_order_is_safe(loaded):
    run = loaded.run
    relays = {r.outputs["relayhost_id"]: r for r in run.of_type(tokens.MAILCOW_RELAYHOST)}
    for d in deployed(loaded):
        domain = only(run, tokens.MAILCOW_DOMAIN, d)
        dkim = only(run, tokens.MAILCOW_DKIM, d)
        mailboxes = only(run, tokens.MAILCOW_MAILBOX_SET, d)
        # Pulumi deletes a resource before whatever it depends on.
        assert domain.urn in mailboxes.dependencies, f"{d.name}: mailboxes must go before their domain"
        assert domain.urn in dkim.dependencies, f"{d.name}: DKIM must go before its domain"
        dkim_record = [r for r in domain_records(run, d) if r.inputs["name"].split(".", 1)[1].startswith("_domainkey.")]
        assert dkim.urn in dkim_record[0].dependencies, f"{d.name}: DKIM tokens.DNS_RECORD record must go before the key"
        if d.ip == 0:
            assert domain.inputs["relayhost_id"] == "0"
            continue
        relay = relays[domain.inputs["relayhost_id"]]
        assert relay.urn in domain.property_dependencies["relayhost_id"], \
            f"{d.name}: the relayhost assignment must be removed before the relayhost"


def test_each_domain_uses_the_relay_bound_to_its_sending_ip(loaded):
    run, stack = loaded.run, loaded.stack
    relays = {r.outputs["relayhost_id"]: r for r in run.of_type(tokens.MAILCOW_RELAYHOST)}
    assert len(relays) == sum(s.floating_ips for s in stack.servers)
    for d in deployed(loaded):
        if d.ip == 0:
            continue
        relay = relays[only(run, tokens.MAILCOW_DOMAIN, d).inputs["relayhost_id"]]
        ipv4s, _ = server_addresses(run, stack.server(d.server))
        assert relay.inputs["server"] == d.server
        if "source_ip" in relay.inputs:
            assert relay.inputs["source_ip"] == ipv4s[d.ip], d.name
        if "helo_name" in relay.inputs:
            # The relay says the name the sending IP's PTR gives, so HELO and FCrDNS agree.
            assert relay.inputs["helo_name"] == ptr_of(run)[ipv4s[d.ip]], d.name


def test_mailcow_resources_are_sized_and_connected_from_the_config(loaded):
    run, stack, e = loaded.run, loaded.stack, EXPECTED[loaded.name]
    ds = deployed(loaded)
    sending = [r for r in run.of_type(tokens.MAILCOW_DOMAIN) if not r.name.startswith("reports-")]
    sets = [r for r in run.of_type(tokens.MAILCOW_MAILBOX_SET) if not r.name.startswith("reports-")]
    assert len(sending) == len(run.of_type(tokens.MAILCOW_DKIM)) == len(sets) == len(ds)
    for d in ds:
        srv = stack.server(d.server)
        domain = only(run, tokens.MAILCOW_DOMAIN, d)
        mailboxes = only(run, tokens.MAILCOW_MAILBOX_SET, d)
        # Every mailbox in both stacks has the default 1024 MiB quota. The domain is created at the stepped
        # size its mailbox set then owns and keeps (docs/architecture.md, "Domain limits").
        limits = {"max_mailboxes": 8, "domain_quota_mb": 8192, "max_mailbox_quota_mb": 8192,
                  "default_mailbox_quota_mb": 8192}
        assert {k: domain.inputs[k] for k in ("domain", *limits)} == {"domain": d.name, **limits}
        assert {k: mailboxes.inputs[k] for k in limits} == limits
        dkim_res = only(run, tokens.MAILCOW_DKIM, d)
        assert (dkim_res.inputs["selector"], dkim_res.inputs["key_size"]) == (e["selector"], 2048)
        assert [m["quota_mb"] for m in mailboxes.inputs["mailboxes"]] == [1024.0] * len(d.mailboxes)
        assert [f"{m['local_part']}@{d.name}" for m in mailboxes.inputs["mailboxes"]] == list(d.addresses)
        for r in (domain, dkim_res, mailboxes):
            assert (r.inputs["api_url"], r.inputs["server"], r.inputs["verify_tls"]) == \
                (f"https://{srv.hostname}", srv.name, True)


def test_the_example_stack_gets_its_mailboxes_and_sending_plan_as_written(prod):
    for d in prod.stack.domains:
        mailboxes = only(prod.run, tokens.MAILCOW_MAILBOX_SET, d).inputs
        assert [(m["local_part"], m["name"]) for m in mailboxes["mailboxes"]] == [
            ("anna.berg", "Anna Berg"), ("jonas.schulz", "Jonas Schulz"), ("mia.hoffmann", "Mia Hoffmann")]
        # 4 domains x 3 mailboxes share each floating IP: 300 a day per IP is 25 per mailbox (cap 40).
        assert mailboxes["daily_send_limit"] == 25.0


def test_api_keys_ssh_key_and_passwords_never_appear_in_plain_inputs_or_outputs(loaded):
    run = loaded.run
    passwords = [r.outputs["result"] for r in run.of_type(tokens.RANDOM_PASSWORD)]
    assert passwords and all(p.startswith(PLACEHOLDER) for p in passwords)
    secrets = [*FAKE_API_KEYS[:len(loaded.stack.servers)], FAKE_SSH_KEY.strip().splitlines()[1], *passwords]
    for r in run.resources:
        hidden = set(r.secret_inputs) | set(r.additional_secret_outputs) | {"__provider"}
        plain = json.dumps({k: v for k, v in r.inputs.items() if k not in hidden}, default=str)
        shown = json.dumps({k: v for k, v in r.outputs.items() if k not in hidden}, default=str)
        for s in secrets:
            assert s not in plain, f"a secret is a plain input of {r.urn}"
            assert s not in shown, f"a secret is a plain output of {r.urn}"
    for r in run.of_type(tokens.RANDOM_PASSWORD):
        assert "result" in r.additional_secret_outputs
    for r in run.of_type(tokens.MAILCOW_MAILBOX_SET):
        assert "passwords" in r.secret_inputs


def test_each_domains_mailcow_limits_are_exported_so_a_preview_shows_their_cost(prod):
    exported = prod.run.outputs.get("domains")
    assert len(exported) == 12
    for d in deployed(prod):
        # 3 mailboxes of 1024 MiB in the example: room to 5 + 2 mailboxes, 7 x 1024 MiB -> the 8192 step.
        assert exported[d.name]["mailcow_limits"] == {"max_mailboxes": 8, "domain_quota_mb": 8192,
                                                      "max_mailbox_quota_mb": 8192, "default_mailbox_quota_mb": 8192}


def test_mailbox_credentials_are_exported_for_every_mailbox(loaded):
    creds = loaded.run.outputs.get("credentials")
    assert creds is not None
    want = sorted(m.address for d in deployed(loaded) for m in d.mailboxes)
    assert sorted(c["email"] for c in creds) == want
    assert all(c["password"].startswith(PLACEHOLDER) and c["smtp_port"] == 587 for c in creds)


def misattached(credentials: list, run) -> list:
    """Addresses whose exported password is not the result of that mailbox's own password resource."""
    own = {r.name: r.outputs["result"] for r in run.of_type(tokens.RANDOM_PASSWORD)}
    wrong = []
    for c in credentials:
        local, domain = c["email"].split("@")
        if c["password"] != own[f"{component_name(domain)}-mailboxes-{local}-password"]:
            wrong.append(c["email"])
    return wrong


def test_every_mailbox_gets_its_own_password_and_a_swapped_one_would_be_caught(loaded):
    creds = loaded.run.outputs["credentials"]
    passwords = [r.outputs["result"] for r in loaded.run.of_type(tokens.RANDOM_PASSWORD)]
    # One per mailbox (the two report mailboxes included), one Mailcow admin password per server: all different.
    assert len(set(passwords)) == len(passwords) == len(creds) + 2 + len(loaded.stack.servers)
    assert misattached(creds, loaded.run) == []
    swapped = copy.deepcopy(creds)
    swapped[0]["password"], swapped[1]["password"] = swapped[1]["password"], swapped[0]["password"]
    assert swapped[0]["email"].split("@")[1] == swapped[1]["email"].split("@")[1]  # two mailboxes of one domain
    assert misattached(swapped, loaded.run) == [swapped[0]["email"], swapped[1]["email"]]


def test_zone_is_looked_up_once_per_distinct_zone_without_a_configured_id(big):
    lookups = [args["filter"]["name"] for token, args in big.run.invokes if token == tokens.GET_ZONE]
    zones_without_id = {d.zone for d in deployed(big) if not d.zone_id}
    server_zones = {s.zone for s in big.stack.servers if not s.zone_id}
    assert len(lookups) == len(set(lookups)), "a zone was looked up twice"
    assert zones_without_id <= set(lookups) <= zones_without_id | server_zones
    for d in deployed(big):
        if d.zone_id:
            own = [r for r in domain_records(big.run, d) if "._report._dmarc." not in r.inputs["name"]]
            assert {r.inputs["zoneId"] for r in own} == {d.zone_id}


def test_dmarc_reports_to_the_ops_zone_are_authorised_for_every_domain_by_one_wildcard(loaded):
    e = EXPECTED[loaded.name]
    auth = [r for r in loaded.run.of_type(tokens.DNS_RECORD) if "._report._dmarc." in r.inputs["name"]]
    assert [(r.name, r.inputs["name"], r.inputs["type"], r.inputs["content"]) for r in auth] == [
        ("reports-dns-report-auth-0", f"*._report._dmarc.{e['auth_zone']}", "TXT", '"v=DMARC1"')]
    # checkdmarc asks for <domain>._report._dmarc.<rua domain>: the wildcard answers for every domain.
    for d in deployed(loaded)[:5]:
        assert loaded.dns.strings(f"{d.name}._report._dmarc.{e['auth_zone']}") == [b"v=DMARC1"]


def test_the_report_mailboxes_are_made_on_the_first_server_with_an_mx_spf_and_dmarc_of_their_own(loaded):
    e, run = EXPECTED[loaded.name], loaded.run
    zone, host = e["auth_zone"], loaded.stack.servers[0].hostname
    (domain,) = [r for r in run.of_type(tokens.MAILCOW_DOMAIN) if r.name == "reports-domain"]
    (boxes,) = [r for r in run.of_type(tokens.MAILCOW_MAILBOX_SET) if r.name == "reports-mailboxes-set"]
    assert (domain.inputs["domain"], domain.inputs["server"], domain.inputs["relayhost_id"]) == (zone, "mx1", "0")
    assert (boxes.inputs["domain"], [m["local_part"] for m in boxes.inputs["mailboxes"]]) == \
        (zone, [e["rua"].split("@")[0], e["tls_rua"].split("@")[0]])
    records = {r.name: r.inputs for r in run.of_type(tokens.DNS_RECORD) if r.name.startswith("reports-dns-")}
    primary = server_addresses(run, loaded.stack.servers[0])[0][0]
    assert (records["reports-dns-report-mx"]["name"], records["reports-dns-report-mx"]["type"],
            records["reports-dns-report-mx"]["content"], records["reports-dns-report-mx"]["priority"]) == \
        (zone, "MX", host, 10.0)
    assert records["reports-dns-report-spf"]["content"].startswith(f'"v=spf1 ip4:{primary} ')
    assert records["reports-dns-report-dmarc"]["content"] == f'"v=DMARC1; p=none; rua=mailto:{e["rua"]}"'
    exported = run.outputs["report_mailboxes"]
    assert [(m["email"], m["imap_host"], m["imap_port"]) for m in exported] == [
        (e["rua"], host, 993), (e["tls_rua"], host, 993)]
    assert all(m["password"] for m in exported)


def test_idn_domain_is_deployed_in_punycode(prod):
    names = {r.inputs["name"] for r in prod.run.of_type(tokens.DNS_RECORD)}
    assert "xn--bcher-acme-9db.de" in names
    assert "dkim._domainkey.xn--bcher-acme-9db.de" in names


def test_bad_config_reports_every_error_and_registers_nothing():
    raw = big_raw()
    raw["domains"][3]["ip"] = 9
    raw["domains"][4]["mailboxes"] = {"count": 2, "pattern": "{nope}"}
    raw["servers"][1]["serverType"] = "cx11-tiny"
    raw["dmarc"]["phase"] = "strict"
    run = run_main(raw)
    assert isinstance(run.error, cm.ConfigError), repr(run.error)
    paths = {i.path for i in run.error.issues}
    assert {"coldmail:domains[3].ip", "coldmail:domains[4].mailboxes.pattern", "coldmail:servers[1].serverType",
            "coldmail:dmarc.phase"} <= paths
    assert run.resources == []


def test_rollout_stage_registers_only_the_domains_of_the_deployed_batches():
    raw = big_raw()
    raw["rollout"] = {"batchSize": 25, "stage": 1}
    run = run_main(raw)
    assert run.error is None, repr(run.error)
    stack = cm.load(raw)
    assert sorted(r.name for r in run.of_type(tokens.MAIL_DOMAIN)) == \
        sorted(component_name(d.name) for d in stack.domains[:25])
    # The 25 sending domains and the report mailboxes' domain.
    assert len(run.of_type(tokens.MAILCOW_DOMAIN)) == 26


def test_adding_one_mailbox_changes_only_that_domains_mailbox_resources(prod):
    raw = copy.deepcopy(prod.raw)
    raw["domains"][0]["mailboxes"] = {"count": 4}
    after = run_main(raw)
    assert after.error is None, repr(after.error)
    before = {r.urn: r for r in prod.run.resources}
    now = {r.urn: r for r in after.resources}
    added = [now[u].name for u in set(now) - set(before)]
    assert len(added) == 1 and added[0].startswith("acme-growth-com-mailboxes-") and added[0].endswith("-password")
    assert set(before) - set(now) == set()
    # Server-side inputs may carry the mock engine's run-specific ids, so compare what the domains own.
    owned = {r.urn for d in prod.stack.domains for r in after.descendants(after.named(component_name(d.name)).urn)}
    changed = {now[u].name for u in owned & set(before) if now[u].inputs != before[u].inputs}
    # The domain's limits grow with its mailbox set; the planned sends of IP 1 are shared by one more mailbox.
    assert changed <= {"acme-growth-com-domain", "acme-growth-com-mailboxes-set"} | {
        f"{component_name(d.name)}-mailboxes-set" for d in prod.stack.domains if d.ip == prod.stack.domains[0].ip}
    assert "acme-growth-com-mailboxes-set" in changed
