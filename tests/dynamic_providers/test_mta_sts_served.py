"""The policy MailcowMtaSts writes is what a real MTA-STS client fetches: postfix-mta-sts-resolver resolves the
``_mta-sts`` TXT from a loopback DNS server and fetches ``https://mta-sts.<domain>/.well-known/mta-sts.txt``
from the emulator over TLS, verifying a certificate made by a test CA for that name."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiodns
import aiohttp
import pytest
from postfix_mta_sts_resolver import resolver as sts

from dynamic_providers.mta_sts import MailcowMtaStsProvider
from tests.checks.certs import TestCA
from tests.checks.dnszone import ZoneServer
from tests.support.mail_stack import API_KEY
from tests.support.mailcow_emulator import MailcowEmulator

DOMAIN = "alpha.example.test"
#: `printf 'version: STSv1\nmode: testing\nmax_age: 604800\nmx: mx1.example.test\n' | sha256sum | cut -c1-20`
TESTING_ID = "91cb20554985df9c06d7"


@pytest.fixture
def https_mailcow(tmp_path: Path):
    """The emulator behind TLS with a certificate for mta-sts.<domain>, as Mailcow's ACME container makes it."""
    ca = TestCA(tmp_path)
    certfile, keyfile = ca.leaf(f"mta-sts.{DOMAIN}")
    bundle = tmp_path / "server.pem"
    bundle.write_text(Path(certfile).read_text() + Path(keyfile).read_text())
    with MailcowEmulator(api_key=API_KEY, tls_cert=str(bundle)) as mc:
        mc.seed_domain(DOMAIN)
        yield mc, ca


class LoopbackResolver(aiohttp.abc.AbstractResolver):
    """Sends every name to the emulator's port on 127.0.0.1; TLS still checks the name in the URL."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": "127.0.0.1", "port": self.port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


def fetch_policy(monkeypatch, zone: ZoneServer, port: int, cafile: str):
    import ssl

    context = ssl.create_default_context(cafile=cafile)
    real_session = aiohttp.ClientSession

    def session(*args, **kwargs):
        kwargs.pop("loop", None)
        return real_session(*args, connector=aiohttp.TCPConnector(ssl=context, resolver=LoopbackResolver(port)),
                            **kwargs)

    monkeypatch.setattr(sts.aiohttp, "ClientSession", session)
    loop = asyncio.new_event_loop()
    try:
        async def run():
            resolver = sts.STSResolver(loop=loop, timeout=5)
            resolver._resolver = aiodns.DNSResolver(nameservers=[zone.nameserver], timeout=2)
            return await resolver.resolve(DOMAIN)

        return loop.run_until_complete(run())
    finally:
        loop.close()


def test_a_real_mta_sts_client_fetches_the_policy_the_provider_wrote(https_mailcow, configured, monkeypatch):
    mc, ca = https_mailcow
    provider = configured(MailcowMtaStsProvider)
    props = provider.check({}, {"api_url": mc.url, "server": "mx1", "verify_tls": False, "ca_bundle": None,
                                "domain": DOMAIN, "mode": "testing", "mx": ["mx1.example.test"],
                                "max_age": 604800}).inputs
    created = provider.create(props)
    assert created.outs["policy_id"] == TESTING_ID
    with ZoneServer() as zone:
        zone.add(f"_mta-sts.{DOMAIN}", "TXT", f"v=STSv1; id={TESTING_ID}")
        status, result = fetch_policy(monkeypatch, zone, mc.port, ca.cafile)
    assert status == sts.STSFetchResult.VALID
    assert result == (TESTING_ID, {"version": "STSv1", "mode": "testing", "max_age": 604800,
                                   "mx": ["mx1.example.test"]})


def test_the_client_refuses_the_policy_when_the_certificate_is_not_for_the_mta_sts_name(tmp_path, configured,
                                                                                          monkeypatch):
    ca = TestCA(tmp_path)
    certfile, keyfile = ca.leaf("mx1.example.test")  # the mail host's certificate, without mta-sts.<domain>
    bundle = tmp_path / "server.pem"
    bundle.write_text(Path(certfile).read_text() + Path(keyfile).read_text())
    with MailcowEmulator(api_key=API_KEY, tls_cert=str(bundle)) as mc:
        mc.seed_domain(DOMAIN)
        mc.seed_mta_sts(DOMAIN, "testing", "mx1.example.test")
        with ZoneServer() as zone:
            zone.add(f"_mta-sts.{DOMAIN}", "TXT", f"v=STSv1; id={TESTING_ID}")
            status, result = fetch_policy(monkeypatch, zone, mc.port, ca.cafile)
    assert (status, result) == (sts.STSFetchResult.FETCH_ERROR, None)
