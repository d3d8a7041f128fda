"""MailcowRelayhostProvider, API-key lookup, and the typed resources under Pulumi mocks."""

from __future__ import annotations

import base64
import json

import pulumi
import pytest
from pulumi.dynamic import Config
from pulumi.runtime import rpc

from dynamic_providers.credentials import ApiKeys, env_var_for
from coldmail.model import tokens
from dynamic_providers.errors import MailcowConflict, MailcowCredentialsError
from dynamic_providers.relayhost import MailcowRelayhostProvider

HOST = "[172.22.1.1]:2526"


@pytest.fixture
def p(configured):
    return configured(MailcowRelayhostProvider)


def relay_inputs(mc, **over):
    return {"api_url": mc.url, "server": "mx1", "verify_tls": True, "ca_bundle": None, "hostname": HOST,
            "source_ip": "198.51.100.7", "helo_name": "mx1-ip1.example.com", **over}


# ------------------------------------------------------------------ relayhost

def test_relayhost_create_returns_mailcows_id_looked_up_by_hostname(p, mc):
    mc.seed_relayhost("[172.22.1.1]:2525")
    res = p.create(p.check({}, relay_inputs(mc)).inputs)
    assert res.id == "2" and res.outs["relayhost_id"] == "2" and mc.relayhosts[2]["hostname"] == HOST
    assert res.outs["adopted"] is False


def test_an_existing_relayhost_is_not_adopted_silently(p, mc):
    rid = mc.seed_relayhost(HOST)
    mc.seed_domain("hand-made.test", relayhost=str(rid))
    with pytest.raises(MailcowConflict) as exc:
        p.create(p.check({}, relay_inputs(mc)).inputs)
    text = str(exc.value)
    assert f"id {rid}" in text and "hand-made.test" in text and "adoptRelayhosts: true" in text
    assert mc.endpoints("write") == [] and len(mc.relayhosts) == 1


def test_an_adopted_relayhost_is_recorded_and_left_in_place_on_destroy(p, mc):
    rid = mc.seed_relayhost(HOST)
    res = p.create(p.check({}, relay_inputs(mc, adopt=True)).inputs)
    assert res.id == str(rid) and res.outs["adopted"] is True and mc.endpoints("write") == []
    again = p.update(res.id, res.outs, p.check({}, relay_inputs(mc, helo_name="x.example.com")).inputs).outs
    assert again["adopted"] is True
    p.delete(res.id, again)
    assert list(mc.relayhosts) == [rid] and mc.endpoints("write") == []


def test_a_relayhost_still_used_by_a_domain_outside_the_stack_is_not_deleted(p, mc):
    res = p.create(p.check({}, relay_inputs(mc)).inputs)
    mc.seed_domain("hand-made.test", relayhost=res.id)
    mc.seed_mailbox("boss@other.test", name="Boss", quota_mb=10, relayhost=res.id)
    with pytest.raises(MailcowConflict) as exc:
        p.delete(res.id, res.outs)
    text = str(exc.value)
    assert "hand-made.test" in text and "boss@other.test" in text and "pulumi state delete" in text
    assert int(res.id) in mc.relayhosts and mc.domains["hand-made.test"]["relayhost"] == res.id
    assert "delete/relayhost" not in mc.endpoints()


def test_relayhost_informational_change_costs_no_call_and_hostname_change_replaces(p, mc):
    outs = p.create(p.check({}, relay_inputs(mc)).inputs).outs
    mc.reset_counters()
    news = p.check({}, relay_inputs(mc, helo_name="other.example.com")).inputs
    d = p.diff("1", outs, news)
    assert d.changes is True and d.replaces == []
    assert p.update("1", outs, news).outs["helo_name"] == "other.example.com"
    assert mc.calls == []
    d = p.diff("1", outs, p.check({}, relay_inputs(mc, hostname="[172.22.1.1]:2527")).inputs)
    assert d.replaces == ["hostname"] and d.delete_before_replace is False
    assert p.diff("1", outs, p.check({}, relay_inputs(mc)).inputs).changes is False


def test_relayhost_read_and_delete_follow_live_state(p, mc):
    res = p.create(p.check({}, relay_inputs(mc)).inputs)
    assert p.read(res.id, res.outs).outs["hostname"] == HOST
    p.delete(res.id, res.outs)
    assert mc.relayhosts == {} and p.read(res.id, res.outs).id == ""
    p.delete(res.id, res.outs)  # already gone: nothing to do, no error
    assert not [c for c in mc.calls if c.kind == "write" and c.status != 200]


def test_relayhost_check_rejects_spaces():
    r = MailcowRelayhostProvider().check({}, {"api_url": "https://mx1.example.com", "server": "mx1",
                                              "hostname": "relay host:25"})
    assert [f.property for f in r.failures] == ["hostname"]


# ------------------------------------------------------------------ credentials

def test_api_key_is_found_by_server_name_in_the_servers_json():
    cfg = Config({"coldmail:servers": json.dumps([{"name": "mx0", "mailcowApiKey": "FAKE-KEY-ZERO-000"},
                                                  {"name": "mx1", "mailcowApiKey": "FAKE-KEY-ONE-0000"}])}, "coldmail")
    keys = ApiKeys.from_config(cfg)
    assert keys.lookup("mx1", env={}) == "FAKE-KEY-ONE-0000"
    assert "FAKE-KEY" not in repr(keys)


def test_api_key_falls_back_to_the_servers_env_var_then_the_generic_one():
    keys = ApiKeys.from_config(Config({"coldmail:servers": json.dumps([{"name": "mx-eu.1"}])}, "coldmail"))
    assert env_var_for("mx-eu.1") == "COLDMAIL_MAILCOW_API_KEY_MX_EU_1"
    assert keys.lookup("mx-eu.1", env={"COLDMAIL_MAILCOW_API_KEY_MX_EU_1": "FAKE-A",
                                       "COLDMAIL_MAILCOW_API_KEY": "FAKE-B"}) == "FAKE-A"
    assert keys.lookup("mx-eu.1", env={"COLDMAIL_MAILCOW_API_KEY": "FAKE-B"}) == "FAKE-B"


def test_missing_api_key_error_gives_the_exact_config_command():
    keys = ApiKeys.from_config(Config({"coldmail:servers": [{"name": "mx0"}, {"name": "mx1"}]}, "coldmail"))
    with pytest.raises(MailcowCredentialsError) as exc:
        keys.lookup("mx1", env={})
    assert "pulumi config set --secret --path 'coldmail:servers[1].mailcowApiKey' <key>" in str(exc.value)
    assert "COLDMAIL_MAILCOW_API_KEY_MX1" in str(exc.value)
    with pytest.raises(MailcowCredentialsError):
        ApiKeys.from_config(None).lookup("mx1", env={})


# ------------------------------------------------------------------ resources under mocks

class _Mocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.resources = []

    def new_resource(self, args):
        self.resources.append(args)
        return args.name, dict(args.inputs)

    def call(self, args):
        return {}


def test_resources_register_typed_without_secrets_and_past_the_sdk_pickling_limit():
    from dynamic_providers import (MailcowDomain, MailcowDomainArgs, MailcowMailboxSet, MailcowMailboxSetArgs,
                                   MailcowRelayhost, MailcowRelayhostArgs)

    mocks = _Mocks()
    pulumi.runtime.set_mocks(mocks, project="coldmail", stack="unit", preview=False)

    @pulumi.runtime.test
    def program():
        conn = dict(api_url="https://mx1.example.com", server="mx1")
        for i in range(1100):
            MailcowDomain(f"d{i}", MailcowDomainArgs(**conn, domain=f"d{i}.example.com"))
        MailcowMailboxSet("acme-mailboxes", MailcowMailboxSetArgs(
            **conn, domain="acme.example.com",
            mailboxes=[{"local_part": "anna", "name": "Anna", "quota_mb": 1024, "active": True}],
            passwords={"anna": "Fake-Mock-Passw0rd"}))
        MailcowRelayhost("mx1-relayhost1", MailcowRelayhostArgs(**conn, hostname=HOST, adopt=True))

    program()
    # The SDK's wrapper chain only bites when a dict is pickled; without SafeResource this one would
    # raise RecursionError after 1100 registrations.
    from pulumi.dynamic.dynamic import serialize_provider
    from dynamic_providers.domain import MailcowDomainProvider
    with_state = MailcowDomainProvider()
    with_state.client_options = {"backoff": 0}
    assert serialize_provider(with_state)
    types = {r.typ for r in mocks.resources}
    assert types == {tokens.MAILCOW_DOMAIN, tokens.MAILCOW_MAILBOX_SET, tokens.MAILCOW_RELAYHOST}
    assert len(mocks.resources) == 1102
    relay = next(r for r in mocks.resources if r.name == "mx1-relayhost1")
    assert relay.inputs["adopt"] is True
    mbs = next(r for r in mocks.resources if r.name == "acme-mailboxes")
    payload = rpc.unwrap_rpc_secret(mbs.inputs["__provider"])
    assert b"Fake-Mock-Passw0rd" not in base64.b64decode(payload)
    assert "mailcowApiKey" not in json.dumps(mbs.inputs, default=str)


def test_provider_classes_keep_the_import_paths_existing_state_pickles():
    # State holds each provider pickled by reference (module and class name): moving or renaming one breaks
    # refresh and destroy of every existing stack, so these paths are part of the contract.
    import dill
    from pulumi.dynamic.dynamic import serialize_provider

    from dynamic_providers import (MailcowDkimProvider, MailcowDomainProvider, MailcowMailboxSetProvider,
                                   MailcowRelayhostProvider)

    for cls, path in ((MailcowDomainProvider, "dynamic_providers.domain"),
                      (MailcowDkimProvider, "dynamic_providers.dkim"),
                      (MailcowMailboxSetProvider, "dynamic_providers.mailbox_set"),
                      (MailcowRelayhostProvider, "dynamic_providers.relayhost")):
        payload = base64.b64decode(serialize_provider(cls()))
        assert path.encode() in payload and cls.__name__.encode() in payload
        assert type(dill.loads(payload)) is cls
