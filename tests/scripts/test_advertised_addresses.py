"""Every address DNS advertises for mail accepts it with the sender's own address, and nothing else listens.

The stack is rendered by the real program (mock engine), its install command is run in the scripts
sandbox with exactly the settings it carries, and the resulting daemon.json and mailcow.conf are read
with Docker's rules for published ports, written out here as the oracle:

- a binding without a host IP publishes on IPv4 and IPv6, ``0.0.0.0:`` on IPv4 only, ``127.0.0.1:`` nowhere;
- an IPv4 client is NATed by iptables and keeps its address;
- an IPv6 client keeps its address only when the Mailcow network has IPv6 (``ENABLE_IPV6=true``) and
  Docker runs ip6tables; otherwise Docker's userland proxy, if it runs, carries it over IPv4 from the
  bridge gateway, an address Postfix trusts (the open relay this guards against); with the proxy off and
  no IPv6 on the network nothing answers, and an AAAA record would advertise a dead address.
"""

from __future__ import annotations

import json

import pytest

from coldmail import model as cm
from coldmail.model.records import SendingAddresses, domain_records
from tests.support.mail_server_program import API_KEY, install_settings, prod_raw, run_mail_servers

PUBLISHED_KEYS = ("SMTP_PORT", "SMTPS_PORT", "SUBMISSION_PORT", "IMAP_PORT", "IMAPS_PORT", "POP_PORT", "POPS_PORT",
                  "SIEVE_PORT")
MAIL_KEYS = ("SMTP_PORT", "SMTPS_PORT", "SUBMISSION_PORT")
T_RECORD = "cloudflare:index/dnsRecord:DnsRecord"


def _host_ip(conf: dict[str, str], key: str) -> str:
    value = conf[key]
    if key.endswith("_BIND"):
        return value
    return value.rsplit(":", 1)[0] if ":" in value else ""


def listens(conf: dict[str, str], key: str, family: int) -> bool:
    host = _host_ip(conf, key)
    return host == "" or host == ("0.0.0.0" if family == 4 else "::")


def keeps_source(daemon: dict, conf: dict[str, str], family: int) -> bool:
    if family == 4:
        return True
    return conf["ENABLE_IPV6"] == "true" and daemon.get("ipv6") is True and daemon.get("ip6tables", True) is True


def proxied_from_gateway(daemon: dict, conf: dict[str, str], key: str, family: int) -> bool:
    return listens(conf, key, family) and not keeps_source(daemon, conf, family) and \
        daemon.get("userland-proxy", True) is not False


@pytest.mark.parametrize("ipv6", [True, False])
def test_every_advertised_address_accepts_mail_and_no_port_is_proxied(sandbox, ipv6):
    raw = prod_raw(ipv6=ipv6)
    result = run_mail_servers(raw)
    assert result.error is None, result.error
    stack = cm.load(raw)
    hostname = stack.servers[0].hostname

    settings = install_settings(result)
    (sandbox.fake / "expected-key").write_text(API_KEY)
    (sandbox.fake / "host-ipv6").write_text("true" if ipv6 else "false")
    env = {k: v for k, v in settings.items() if k != "SCRIPT_SHA256"}
    sandbox.run("install-mailcow.sh", env=dict(env, WAIT_TRIES="3", WAIT_SLEEP="0"),
                stdin=f"API_KEY={API_KEY}\nADMIN_PASSWORD=fake-admin-password\n")
    daemon_json = sandbox.root / "etc/docker/daemon.json"
    daemon = json.loads(daemon_json.read_text()) if daemon_json.exists() else {}  # Docker's defaults
    text = (sandbox.fake / "conf-at-up").read_text()  # what the last `compose up` ran with
    conf = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))

    mx_hosts = {r.content for d in stack.domains
                for r in domain_records(stack, d, SendingAddresses(("198.18.0.1",)), "v=DKIM1; p=FAKE")
                if r.type == "MX"}
    assert mx_hosts == {hostname}
    advertised = {r.inputs["type"] for r in result.of_type(T_RECORD) if r.inputs["name"] == hostname}
    assert advertised == ({"A", "AAAA"} if ipv6 else {"A"})

    for rtype in advertised:
        family = 6 if rtype == "AAAA" else 4
        for key in MAIL_KEYS + ("HTTPS_BIND",):
            assert listens(conf, key, family), f"{rtype} of {hostname} advertises {key}, which does not listen there"
        assert keeps_source(daemon, conf, family), f"{rtype} clients would reach Postfix without their own address"
    for key in PUBLISHED_KEYS + ("HTTP_BIND", "HTTPS_BIND"):
        for family in (4, 6):
            assert not proxied_from_gateway(daemon, conf, key, family), f"{key} over IPv{family} is proxied"
        if not ipv6:
            assert not listens(conf, key, 6), f"{key} listens on IPv6 on an IPv4-only server"
