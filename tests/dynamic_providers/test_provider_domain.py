"""MailcowDomainProvider and MailcowDkimProvider called directly against the Mailcow emulator."""

from __future__ import annotations

import json

import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.runtime import rpc

from dynamic_providers.dkim import MailcowDkimProvider
from dynamic_providers.domain import MailcowDomainProvider
from dynamic_providers.errors import MailcowConflict
from tests.support.mailcow_emulator import MailcowEmulator

DOMAIN = "acme.test"


@pytest.fixture
def mc():
    with MailcowEmulator() as emu:
        yield emu


def configured(cls, mc):
    prov = cls()
    prov.configure(ConfigureRequest(Config(
        {"coldmail:servers": json.dumps([{"name": "mx1", "mailcowApiKey": mc.api_key}])}, "coldmail")))
    prov.client_options = {"backoff": 0}
    return prov


def conn(mc):
    return {"api_url": mc.url, "server": "mx1", "verify_tls": True, "ca_bundle": None}


def domain_inputs(mc, **over):
    props = {**conn(mc), "domain": DOMAIN, "description": "coldmail: acme.test", "max_mailboxes": 7.0,
             "max_aliases": 10.0, "domain_quota_mb": 7168.0, "max_mailbox_quota_mb": 1024.0,
             "default_mailbox_quota_mb": 1024.0, "relayhost_id": "0", "active": True}
    props.update(over)
    return props


def checked(p, props):
    result = p.check({}, props)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def wire(mc):
    return [c.endpoint for c in mc.calls]


# ------------------------------------------------------------------ domain

def test_domain_is_created_sized_and_without_an_automatic_dkim_key(mc):
    p = configured(MailcowDomainProvider, mc)
    res = p.create(checked(p, domain_inputs(mc)))
    assert res.id == DOMAIN and wire(mc) == ["get/domain/*", "add/domain"]
    body = mc.calls[1].body
    assert body["key_size"] == 0 and body["mailboxes"] == 7 and body["quota"] == 7168 and body["maxquota"] == 1024
    assert DOMAIN not in mc.dkim
    assert res.outs["max_mailboxes"] == 7 and "__provider" not in res.outs


def test_domain_with_a_relayhost_gets_it_by_edit_after_add(mc):
    rid = mc.seed_relayhost("[172.22.1.1]:2526")
    p = configured(MailcowDomainProvider, mc)
    p.create(checked(p, domain_inputs(mc, relayhost_id=float(rid))))
    assert wire(mc) == ["get/domain/*", "add/domain", "edit/domain"]
    assert mc.calls[2].body == {"items": [DOMAIN], "attr": {"relayhost": str(rid)}}
    assert str(mc.domains[DOMAIN]["relayhost"]) == str(rid)


def test_existing_domain_is_adopted_and_only_its_differences_are_edited(mc):
    mc.seed_domain(DOMAIN, description="made by hand", mailboxes=7, aliases=10, quota=7168, maxquota=1024,
                   defquota=1024)
    p = configured(MailcowDomainProvider, mc)
    p.create(checked(p, domain_inputs(mc)))
    assert wire(mc) == ["get/domain/*", "edit/domain"]
    assert mc.calls[1].body == {"items": [DOMAIN], "attr": {"description": "coldmail: acme.test"}}


def test_unchanged_domain_diff_is_local_and_a_new_name_replaces(mc):
    p = configured(MailcowDomainProvider, mc)
    outs = p.create(checked(p, domain_inputs(mc))).outs
    mc.reset_counters()
    assert p.diff(DOMAIN, outs, checked(p, domain_inputs(mc))).changes is False
    d = p.diff(DOMAIN, outs, checked(p, domain_inputs(mc, domain="other.test")))
    assert d.changes and d.replaces == ["domain"]
    d = p.diff(DOMAIN, outs, checked(p, domain_inputs(mc, max_mailboxes=9)))
    assert d.changes and d.replaces == []
    assert p.diff(DOMAIN, outs, {**checked(p, domain_inputs(mc)), "relayhost_id": rpc.UNKNOWN}).changes is True
    assert mc.calls == []


def test_update_edits_limits_in_place_and_recreates_a_domain_deleted_by_hand(mc):
    p = configured(MailcowDomainProvider, mc)
    outs = p.create(checked(p, domain_inputs(mc))).outs
    mc.reset_counters()
    p.update(DOMAIN, outs, checked(p, domain_inputs(mc, max_mailboxes=9, active=False)))
    assert wire(mc) == ["get/domain/*", "edit/domain"]
    assert mc.calls[1].body["attr"] == {"mailboxes": 9, "active": 0}
    with mc.lock:
        del mc.domains[DOMAIN]
    p.update(DOMAIN, outs, checked(p, domain_inputs(mc)))
    assert DOMAIN in mc.domains


def test_read_reports_live_settings_and_a_deleted_domain_as_gone(mc):
    p = configured(MailcowDomainProvider, mc)
    outs = p.create(checked(p, domain_inputs(mc))).outs
    with mc.lock:
        mc.domains[DOMAIN]["description"] = "edited in the UI"
    read = p.read(DOMAIN, outs)
    assert read.id == DOMAIN and read.outs["description"] == "edited in the UI" and read.outs["max_mailboxes"] == 7
    with mc.lock:
        del mc.domains[DOMAIN]
    assert p.read(DOMAIN, outs).id == ""


def test_delete_refuses_while_foreign_mailboxes_remain_and_names_them(mc):
    p = configured(MailcowDomainProvider, mc)
    outs = p.create(checked(p, domain_inputs(mc)))
    mc.seed_mailbox(f"ceo@{DOMAIN}", name="CEO", quota_mb=10)
    mc.reset_counters()
    with pytest.raises(MailcowConflict) as exc:
        p.delete(DOMAIN, outs.outs)
    assert f"ceo@{DOMAIN}" in str(exc.value) and "pulumi state delete" in str(exc.value)
    assert [c.kind for c in mc.calls] == ["read"] and DOMAIN in mc.domains


def test_delete_of_an_empty_domain_removes_it(mc):
    mc.seed_mailbox("x@other.test", name="X", quota_mb=1)
    p = configured(MailcowDomainProvider, mc)
    outs = p.create(checked(p, domain_inputs(mc))).outs
    p.delete(DOMAIN, outs)
    assert DOMAIN not in mc.domains and "other.test" in mc.domains


def test_alias_target_name_mismatch_is_a_conflict_not_an_adoption(mc):
    p = configured(MailcowDomainProvider, mc)
    mc.seed_domain("target.test")
    # Mailcow resolves an alias domain to its target on get/domain/<alias>.
    orig = mc._domain_view
    mc._domain_view = lambda name: orig("target.test")
    with mc.lock:
        mc.domains[DOMAIN] = dict(mc.domains["target.test"])
    with pytest.raises(MailcowConflict) as exc:
        p.create(checked(p, domain_inputs(mc)))
    assert "alias domain of target.test" in str(exc.value)


def test_domain_check_normalises_and_rejects_what_mailcow_would_ignore():
    p = MailcowDomainProvider()
    base = {"api_url": "https://mx1.example.com/", "server": "mx1", "domain": "Bücher.Example",
            "description": "", "max_aliases": 0, "domain_quota_mb": 100.0, "max_mailbox_quota_mb": 200,
            "default_mailbox_quota_mb": 50.5, "relayhost_id": 3.0}
    r = p.check({}, base)
    props = {f.property for f in r.failures}
    assert props == {"max_aliases", "max_mailbox_quota_mb", "default_mailbox_quota_mb"}
    assert r.inputs["domain"] == "xn--bcher-kva.example" and r.inputs["description"] == "xn--bcher-kva.example"
    assert r.inputs["relayhost_id"] == "3" and r.inputs["api_url"] == "https://mx1.example.com"
    assert isinstance(r.inputs["domain_quota_mb"], int)
    bad = p.check({}, {**base, "domain": "not a domain", "api_url": "http://mx1.example.com"})
    assert {"domain", "api_url"} <= {f.property for f in bad.failures}


# ------------------------------------------------------------------ DKIM

def dkim_inputs(mc, **over):
    return {**conn(mc), "domain": DOMAIN, "selector": "dkim", "key_size": 2048.0, **over}


def test_dkim_is_created_with_selector_and_size_and_outputs_mailcows_txt(mc):
    mc.seed_domain(DOMAIN)
    p = configured(MailcowDkimProvider, mc)
    res = p.create(checked(p, dkim_inputs(mc, selector="s2026")))
    add = next(c for c in mc.calls if c.endpoint == "add/dkim")
    assert add.body == {"domains": DOMAIN, "dkim_selector": "s2026", "key_size": 2048}
    key = mc.dkim[DOMAIN]
    assert res.id == DOMAIN and res.outs["dns_name"] == f"s2026._domainkey.{DOMAIN}"
    assert res.outs["txt_value"] == f"v=DKIM1;k=rsa;t=s;s=email;p={key['pubkey']}"
    assert res.outs["public_key"] == key["pubkey"]


def test_existing_matching_dkim_key_is_adopted_without_a_write(mc):
    mc.seed_domain(DOMAIN)
    mc.seed_dkim(DOMAIN, "dkim", 2048)
    p = configured(MailcowDkimProvider, mc)
    p.create(checked(p, dkim_inputs(mc)))
    assert [c.kind for c in mc.calls] == ["read"]


def test_existing_different_dkim_key_is_refused_not_rotated(mc):
    mc.seed_domain(DOMAIN)
    old = mc.seed_dkim(DOMAIN, "legacy", 1024)
    p = configured(MailcowDkimProvider, mc)
    with pytest.raises(MailcowConflict) as exc:
        p.create(checked(p, dkim_inputs(mc)))
    assert "'legacy'" in str(exc.value) and "1024" in str(exc.value)
    assert mc.dkim[DOMAIN]["pubkey"] == old["pubkey"] and all(c.kind == "read" for c in mc.calls)


def test_dkim_key_survives_domain_delete_until_the_dkim_resource_is_deleted(mc):
    dom = configured(MailcowDomainProvider, mc)
    dkim = configured(MailcowDkimProvider, mc)
    d_outs = dom.create(checked(dom, domain_inputs(mc))).outs
    k_outs = dkim.create(checked(dkim, dkim_inputs(mc))).outs
    dom.delete(DOMAIN, d_outs)
    assert DOMAIN not in mc.domains and dkim.read(DOMAIN, k_outs).id == DOMAIN
    dkim.delete(DOMAIN, k_outs)
    assert DOMAIN not in mc.dkim and dkim.read(DOMAIN, k_outs).id == ""


def test_new_selector_or_size_replaces_the_key_deleting_first(mc):
    p = MailcowDkimProvider()
    olds = {**conn(mc), "domain": DOMAIN, "selector": "dkim", "key_size": 2048}
    d = p.diff(DOMAIN, olds, {**olds, "selector": "s2"})
    assert d.replaces == ["selector"] and d.delete_before_replace is True
    d = p.diff(DOMAIN, olds, {**olds, "domain": "b.test"})
    assert d.replaces == ["domain"] and d.delete_before_replace is False
    assert p.diff(DOMAIN, olds, dict(olds)).changes is False
    bad = p.check({}, {**olds, "selector": "bad sel", "key_size": 512})
    assert {f.property for f in bad.failures} == {"selector", "key_size"}
