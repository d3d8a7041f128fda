"""The whole program (``__main__.py``) under the recording mock engine, on the example stack and a big one.

Every check runs on both ``Pulumi.prod.yaml`` (1 server, 3 floating IPs, 12 domains) and a generated
3-server / 60-domain / 200-mailbox stack.
"""

import copy
import json

from coldmail import model as cm
from coldmail.model import records as rec
from coldmail.ops.mock_engine import PLACEHOLDER, pending_dkim_key

from program_helpers import FAKE_API_KEYS, FAKE_SSH_KEY, big_raw, run_main

DNS = "cloudflare:index/dnsRecord:DnsRecord"
RDNS = "hcloud:index/rdns:Rdns"
MC_DOMAIN = "pulumi-python:dynamic/coldmail:MailcowDomain"
MC_DKIM = "pulumi-python:dynamic/coldmail:MailcowDkim"
MC_SET = "pulumi-python:dynamic/coldmail:MailcowMailboxSet"
MC_RELAY = "pulumi-python:dynamic/coldmail:MailcowRelayhost"
PASSWORD = "random:index/randomPassword:RandomPassword"
GET_ZONE = "cloudflare:index/getZone:getZone"


def comp_name(domain: cm.Domain) -> str:
    return domain.name.replace(".", "-")


_trees: dict = {}


def under(run, urn: str) -> list:
    """Every resource below ``urn``; indexed once per run (ProgramRun's lookups are linear)."""
    tree = _trees.get(id(run))
    if tree is None or tree[0] is not run:
        children: dict = {}
        for r in run.resources:
            children.setdefault(r.parent, []).append(r)
        tree = _trees[id(run)] = (run, children)
    out, todo = [], [urn]
    while todo:
        for r in tree[1].get(todo.pop(), []):
            out.append(r)
            todo.append(r.urn)
    return out


def domain_records(run, domain):
    comp = run.named(comp_name(domain))
    assert comp.type == "coldmail:index:MailDomain"
    return [r for r in under(run, comp.urn) if r.type == DNS]


def only(run, typ, domain):
    comp = run.named(comp_name(domain))
    found = [r for r in under(run, comp.urn) if r.type == typ]
    assert len(found) == 1, f"{len(found)} {typ} under {comp.name}"
    return found[0]


def server_addresses(run, server: cm.Server):
    """IPv4 per sending-IP index and the IPv6, read from the reverse DNS the program sets (PTR = identity)."""
    ptrs = [(r.inputs["ipAddress"], r.inputs["dnsPtr"]) for r in run.of_type(RDNS)]
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


def deployed(loaded):
    return loaded.stack.rollout.deployed(loaded.stack.domains)


def test_program_registers_without_error(loaded):
    assert loaded.run.error is None, repr(loaded.run.error)
    assert len(loaded.run.of_type("coldmail:index:MailDomain")) == len(deployed(loaded))
    assert len(loaded.run.of_type("coldmail:index:MailServer")) == len(loaded.stack.servers)


def test_every_domain_record_has_its_exact_name_type_and_content(loaded):
    run, stack = loaded.run, loaded.stack
    for d in deployed(loaded):
        ipv4s, ipv6 = server_addresses(run, stack.server(d.server))
        dkim = f"v=DKIM1;k=rsa;t=s;s=email;p={pending_dkim_key(d.name)}"
        want = {(s.name, s.type): s for s in rec.domain_records(stack, d, rec.sending_addresses(stack, d, ipv4s, ipv6), dkim)}
        got = {(r.inputs["name"], r.inputs["type"]): r for r in domain_records(run, d)}
        assert sorted(got) == sorted(want), d.name
        for key, spec in want.items():
            inputs = got[key].inputs
            assert inputs.get("content") == spec.content, key
            assert inputs.get("priority") == (None if spec.priority is None else float(spec.priority)), key
            if spec.data is not None:
                assert inputs["data"] == {k: float(v) if isinstance(v, int) else v for k, v in spec.data.items()}, key
            assert inputs["ttl"] == float(stack.dns.ttl), key
            assert inputs["comment"] == rec.COMMENT, key
            assert not inputs["name"].endswith("."), key


def test_ptr_and_a_records_agree_for_every_ip(loaded):
    run, stack = loaded.run, loaded.stack
    forward: dict[str, set] = {}
    for r in run.of_type(DNS):
        if r.inputs["type"] in ("A", "AAAA"):
            forward.setdefault(r.inputs["name"], set()).add(r.inputs["content"])
    rdns = run.of_type(RDNS)
    assert len(rdns) >= sum(len(s.sending_ips) for s in stack.servers)
    for r in rdns:
        ip, ptr = r.inputs["ipAddress"], r.inputs["dnsPtr"]
        assert ip in forward.get(ptr, set()), f"PTR {ip} -> {ptr} has no A/AAAA back to {ip}"
    for s in stack.servers:
        ipv4s, _ = server_addresses(run, s)
        for sip, ip in zip(s.sending_ips, ipv4s):
            # One name, one IPv4: a receiver's FCrDNS check must land on exactly the sending address.
            assert {a for a in forward[sip.ptr_name] if ":" not in a} == {ip}, sip.label
    assert len({ip for ips in forward.values() for ip in ips}) >= sum(len(s.sending_ips) for s in stack.servers)


def test_each_spf_names_exactly_its_domains_sending_ips(loaded):
    run, stack = loaded.run, loaded.stack
    for d in deployed(loaded):
        ipv4s, ipv6 = server_addresses(run, stack.server(d.server))
        spf = [r for r in domain_records(run, d)
               if r.inputs["type"] == "TXT" and rec.txt_value(r.inputs["content"]).startswith("v=spf1")]
        assert len(spf) == 1 and spf[0].inputs["name"] == d.name
        value = rec.txt_value(spf[0].inputs["content"])
        want = {ipv4s[d.ip]} | ({ipv6} if d.ip == 0 and ipv6 else set())
        assert rec.spf_ips(value) == want, d.name
        assert rec.spf_lookup_terms(value) <= rec.SPF_MAX_LOOKUPS
        assert value.endswith(" " + stack.dns.spf_all)


def test_dkim_record_value_comes_from_the_mailcow_dkim_output(loaded):
    run, stack = loaded.run, loaded.stack
    for d in deployed(loaded):
        dkim = only(run, MC_DKIM, d)
        name = rec.dkim_name(stack.dkim.selector, d.name)
        record = [r for r in domain_records(run, d) if r.inputs["name"] == name]
        assert len(record) == 1
        assert rec.txt_value(record[0].inputs["content"]) == dkim.outputs["txt_value"]
        assert record[0].inputs["content"] == rec.cloudflare_txt(dkim.outputs["txt_value"])
        assert dkim.urn in record[0].property_dependencies["content"]


def test_no_dns_record_is_proxied(loaded):
    records = loaded.run.of_type(DNS)
    assert records
    proxied = [r.name for r in records if r.inputs.get("proxied") not in (False, None)]
    assert proxied == []


def test_urns_are_unique(loaded):
    urns = [r.urn for r in loaded.run.resources]
    assert len(urns) == len(set(urns))


def test_destroy_order_is_safe(loaded):
    run = loaded.run
    relays = {r.outputs["relayhost_id"]: r for r in run.of_type(MC_RELAY)}
    for d in deployed(loaded):
        domain = only(run, MC_DOMAIN, d)
        dkim = only(run, MC_DKIM, d)
        mailboxes = only(run, MC_SET, d)
        # Pulumi deletes a resource before whatever it depends on.
        assert domain.urn in mailboxes.dependencies, f"{d.name}: mailboxes must go before their domain"
        assert domain.urn in dkim.dependencies, f"{d.name}: DKIM must go before its domain"
        dkim_record = [r for r in domain_records(run, d) if r.inputs["name"].split(".", 1)[1].startswith("_domainkey.")]
        assert dkim.urn in dkim_record[0].dependencies, f"{d.name}: DKIM DNS record must go before the key"
        if d.ip == 0:
            assert domain.inputs["relayhost_id"] == "0"
            continue
        relay = relays[domain.inputs["relayhost_id"]]
        assert relay.urn in domain.property_dependencies["relayhost_id"], \
            f"{d.name}: the relayhost assignment must be removed before the relayhost"


def test_each_domain_uses_the_relay_bound_to_its_sending_ip(loaded):
    run, stack = loaded.run, loaded.stack
    relays = {r.outputs["relayhost_id"]: r for r in run.of_type(MC_RELAY)}
    assert len(relays) == sum(s.floating_ips for s in stack.servers)
    for d in deployed(loaded):
        if d.ip == 0:
            continue
        relay = relays[only(run, MC_DOMAIN, d).inputs["relayhost_id"]]
        ipv4s, _ = server_addresses(run, stack.server(d.server))
        assert relay.inputs["server"] == d.server
        if "source_ip" in relay.inputs:
            assert relay.inputs["source_ip"] == ipv4s[d.ip], d.name
        if "helo_name" in relay.inputs:
            assert relay.inputs["helo_name"] == stack.sending_ip(d).ptr_name, d.name


def test_mailcow_resources_are_sized_and_connected_from_the_config(loaded):
    run, stack = loaded.run, loaded.stack
    ds = deployed(loaded)
    assert len(run.of_type(MC_DOMAIN)) == len(run.of_type(MC_DKIM)) == len(run.of_type(MC_SET)) == len(ds)
    mailbox_passwords = [r for d in ds for r in under(run, run.named(f"{comp_name(d)}-mailboxes").urn)
                         if r.type == PASSWORD]
    assert len(mailbox_passwords) == sum(len(d.mailboxes) for d in ds)
    for d in ds:
        srv = stack.server(d.server)
        sizing = stack.domain_sizing(d)
        domain = only(run, MC_DOMAIN, d)
        assert domain.inputs["domain"] == d.name
        mailboxes = only(run, MC_SET, d)
        # The domain is created at the size its mailbox set then owns and keeps (docs/architecture.md).
        for key, value in sizing.items():
            assert domain.inputs[key] == mailboxes.inputs[key] == value, (d.name, key)
        assert domain.inputs["max_mailboxes"] >= len(d.mailboxes) + stack.limits.mailbox_headroom
        assert domain.inputs["domain_quota_mb"] >= len(d.mailboxes) * d.mailbox_quota_mb
        dkim = only(run, MC_DKIM, d)
        assert (dkim.inputs["selector"], dkim.inputs["key_size"]) == (stack.dkim.selector, stack.dkim.key_size)
        assert [m["local_part"] for m in mailboxes.inputs["mailboxes"]] == [m.local_part for m in d.mailboxes]
        assert [m["quota_mb"] for m in mailboxes.inputs["mailboxes"]] == [m.quota_mb for m in d.mailboxes]
        assert 1 <= mailboxes.inputs["daily_send_limit"] <= stack.warmup.max_per_mailbox_per_day
        for r in (domain, dkim, mailboxes):
            assert (r.inputs["api_url"], r.inputs["server"], r.inputs["verify_tls"]) == \
                (f"https://{srv.hostname}", srv.name, srv.mailcow_tls_verify)


def test_api_keys_ssh_key_and_passwords_never_appear_in_plain_inputs_or_outputs(loaded):
    run = loaded.run
    passwords = [r.outputs["result"] for r in run.of_type(PASSWORD)]
    assert passwords and all(p.startswith(PLACEHOLDER) for p in passwords)
    secrets = [*FAKE_API_KEYS[:len(loaded.stack.servers)], FAKE_SSH_KEY.strip().splitlines()[1], *passwords]
    for r in run.resources:
        hidden = set(r.secret_inputs) | set(r.additional_secret_outputs) | {"__provider"}
        plain = json.dumps({k: v for k, v in r.inputs.items() if k not in hidden}, default=str)
        shown = json.dumps({k: v for k, v in r.outputs.items() if k not in hidden}, default=str)
        for s in secrets:
            assert s not in plain, f"a secret is a plain input of {r.urn}"
            assert s not in shown, f"a secret is a plain output of {r.urn}"
    for r in run.of_type(PASSWORD):
        assert "result" in r.additional_secret_outputs
    for r in run.of_type(MC_SET):
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


def test_zone_is_looked_up_once_per_distinct_zone_without_a_configured_id(big):
    lookups = [args["filter"]["name"] for token, args in big.run.invokes if token == GET_ZONE]
    zones_without_id = {d.zone for d in deployed(big) if not d.zone_id}
    server_zones = {s.zone for s in big.stack.servers if not s.zone_id}
    assert len(lookups) == len(set(lookups)), "a zone was looked up twice"
    assert zones_without_id <= set(lookups) <= zones_without_id | server_zones
    for d in deployed(big):
        if d.zone_id:
            own = [r for r in domain_records(big.run, d) if "._report._dmarc." not in r.inputs["name"]]
            assert {r.inputs["zoneId"] for r in own} == {d.zone_id}


def test_dmarc_reports_to_the_ops_zone_are_authorised_for_every_domain(loaded):
    rua_domain = loaded.stack.dmarc.rua.split("@")[1]
    names = {r.inputs["name"]: r for r in loaded.run.of_type(DNS)}
    for d in deployed(loaded):
        auth = names[f"{d.name}._report._dmarc.{rua_domain}"]
        assert auth.inputs["content"] == '"v=DMARC1"'


def test_idn_domain_is_deployed_in_punycode(prod):
    names = {r.inputs["name"] for r in prod.run.of_type(DNS)}
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
    assert sorted(r.name for r in run.of_type("coldmail:index:MailDomain")) == \
        sorted(comp_name(d) for d in stack.domains[:25])
    assert len(run.of_type(MC_DOMAIN)) == 25


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
    owned = {r.urn for d in prod.stack.domains for r in under(after, after.named(comp_name(d)).urn)}
    changed = {now[u].name for u in owned & set(before) if now[u].inputs != before[u].inputs}
    # The domain's limits grow with its mailbox set; the planned sends of IP 1 are shared by one more mailbox.
    assert changed <= {"acme-growth-com-domain", "acme-growth-com-mailboxes-set"} | {
        f"{comp_name(d)}-mailboxes-set" for d in prod.stack.domains if d.ip == prod.stack.domains[0].ip}
    assert "acme-growth-com-mailboxes-set" in changed
