"""MailcowDomainProvider and MailcowDkimProvider called directly against the Mailcow emulator."""

from __future__ import annotations

import pytest
from pulumi.runtime import rpc

from dynamic_providers.dkim import MailcowDkimProvider
from dynamic_providers.domain import MailcowDomainProvider
from dynamic_providers.errors import MailcowConflict

DOMAIN = "acme.test"


@pytest.fixture
def dom(configured):
    return configured(MailcowDomainProvider)


@pytest.fixture
def dkim(configured):
    return configured(MailcowDkimProvider)


def conn(mc):
    return {"api_url": mc.url, "server": "mx1", "verify_tls": True, "ca_bundle": None}


def domain_inputs(mc, **over):
    props = {**conn(mc), "domain": DOMAIN, "description": "coldmail: acme.test", "max_mailboxes": 8.0,
             "max_aliases": 10.0, "domain_quota_mb": 8192.0, "max_mailbox_quota_mb": 8192.0,
             "default_mailbox_quota_mb": 8192.0, "relayhost_id": "0", "active": True}
    props.update(over)
    return props


def checked(p, props):
    result = p.check({}, props)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


# ------------------------------------------------------------------ domain

def test_domain_is_created_sized_in_one_write_without_a_read_or_a_dkim_key(dom, mc):
    res = dom.create(checked(dom, domain_inputs(mc)))
    assert res.id == DOMAIN and mc.endpoints() == ["add/domain"]
    body = mc.calls[0].body
    assert (body["key_size"], body["mailboxes"], body["quota"], body["maxquota"], body["defquota"]) == (
        0, 8, 8192, 8192, 8192)
    assert DOMAIN not in mc.dkim
    assert res.outs["max_mailboxes"] == 8 and "__provider" not in res.outs


def test_domain_with_a_relayhost_gets_it_by_edit_after_add(dom, mc):
    rid = mc.seed_relayhost("[172.22.1.1]:2526")
    dom.create(checked(dom, domain_inputs(mc, relayhost_id=float(rid))))
    assert mc.endpoints() == ["add/domain", "edit/domain"]
    assert mc.calls[1].body == {"items": [DOMAIN], "attr": {"relayhost": str(rid)}}
    assert str(mc.domains[DOMAIN]["relayhost"]) == str(rid)


def test_a_domain_a_failed_run_left_behind_is_adopted_by_its_description(dom, mc):
    mc.seed_domain(DOMAIN, description="coldmail: acme.test", mailboxes=3, aliases=400)
    dom.create(checked(dom, domain_inputs(mc)))
    assert mc.endpoints() == ["add/domain", "get/domain/*", "edit/domain"]
    # Only the settings this resource keeps; the limits are left to the domain's mailbox set.
    assert mc.calls[2].body == {"items": [DOMAIN], "attr": {"aliases": 10}}
    assert mc.domains[DOMAIN]["mailboxes"] == 3


def test_a_domain_made_by_someone_else_is_refused_and_left_untouched(dom, mc):
    mc.seed_domain(DOMAIN, description="made by hand", relayhost="0")
    with pytest.raises(MailcowConflict) as exc:
        dom.create(checked(dom, domain_inputs(mc)))
    text = str(exc.value)
    assert "'made by hand'" in text and "not created by this stack" in text and "description" in text
    assert mc.endpoints("write") == ["add/domain"] and mc.domains[DOMAIN]["description"] == "made by hand"


def test_unchanged_domain_diff_is_local_limits_are_not_its_business_and_a_new_name_replaces(dom, mc):
    outs = dom.create(checked(dom, domain_inputs(mc))).outs
    mc.reset_counters()
    assert dom.diff(DOMAIN, outs, checked(dom, domain_inputs(mc))).changes is False
    assert dom.diff(DOMAIN, outs, checked(dom, domain_inputs(mc, max_mailboxes=16, domain_quota_mb=16384,
                                                                 max_mailbox_quota_mb=16384))).changes is False
    d = dom.diff(DOMAIN, outs, checked(dom, domain_inputs(mc, domain="other.test")))
    assert d.changes and d.replaces == ["domain"]
    d = dom.diff(DOMAIN, outs, checked(dom, domain_inputs(mc, relayhost_id="3")))
    assert d.changes and d.replaces == []
    assert dom.diff(DOMAIN, outs, {**checked(dom, domain_inputs(mc)), "relayhost_id": rpc.UNKNOWN}).changes is True
    assert mc.calls == []


def test_update_sends_only_the_changed_settings_without_a_read(dom, mc):
    rid = mc.seed_relayhost("[172.22.1.1]:2526")
    outs = dom.create(checked(dom, domain_inputs(mc))).outs
    mc.reset_counters()
    new = dom.update(DOMAIN, outs, checked(dom, domain_inputs(mc, relayhost_id=str(rid), max_mailboxes=16))).outs
    assert mc.endpoints() == ["edit/domain"]
    assert mc.calls[0].body["attr"] == {"relayhost": str(rid)}
    assert new["max_mailboxes"] == 8, "the limits stay as created: the mailbox set owns them"


def test_update_recreates_a_domain_deleted_by_hand(dom, mc):
    outs = dom.create(checked(dom, domain_inputs(mc))).outs
    with mc.lock:
        del mc.domains[DOMAIN]
    dom.update(DOMAIN, outs, checked(dom, domain_inputs(mc, active=False)))
    assert DOMAIN in mc.domains and mc.domains[DOMAIN]["active"] == 0


def test_read_reports_live_settings_and_a_deleted_domain_as_gone(dom, mc):
    outs = dom.create(checked(dom, domain_inputs(mc))).outs
    with mc.lock:
        mc.domains[DOMAIN]["description"] = "edited in the UI"
    read = dom.read(DOMAIN, outs)
    assert read.id == DOMAIN and read.outs["description"] == "edited in the UI" and read.outs["max_mailboxes"] == 8
    with mc.lock:
        del mc.domains[DOMAIN]
    assert dom.read(DOMAIN, outs).id == ""


def test_delete_refuses_while_foreign_mailboxes_remain_and_names_them(dom, mc):
    outs = dom.create(checked(dom, domain_inputs(mc)))
    mc.seed_mailbox(f"ceo@{DOMAIN}", name="CEO", quota_mb=10)
    mc.reset_counters()
    with pytest.raises(MailcowConflict) as exc:
        dom.delete(DOMAIN, outs.outs)
    assert f"ceo@{DOMAIN}" in str(exc.value) and "pulumi state delete" in str(exc.value)
    assert [c.kind for c in mc.calls] == ["read"] and DOMAIN in mc.domains


def test_delete_of_an_empty_domain_removes_it(dom, mc):
    mc.seed_mailbox("x@other.test", name="X", quota_mb=1)
    outs = dom.create(checked(dom, domain_inputs(mc))).outs
    dom.delete(DOMAIN, outs)
    assert DOMAIN not in mc.domains and "other.test" in mc.domains


def test_alias_target_name_mismatch_is_a_conflict_not_an_adoption(dom, mc):
    mc.seed_domain("target.test")
    # Mailcow resolves an alias domain to its target on get/domain/<alias>.
    orig = mc._domain_view
    mc._domain_view = lambda name, usage=None: orig("target.test")
    with mc.lock:
        mc.domains[DOMAIN] = dict(mc.domains["target.test"])
    with pytest.raises(MailcowConflict) as exc:
        dom.create(checked(dom, domain_inputs(mc)))
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


def test_dkim_is_created_with_selector_and_size_in_one_write_and_one_read(dkim, mc):
    mc.seed_domain(DOMAIN)
    res = dkim.create(checked(dkim, dkim_inputs(mc, selector="s2026")))
    assert mc.endpoints() == ["add/dkim", "get/dkim/*"]
    assert mc.calls[0].body == {"domains": DOMAIN, "dkim_selector": "s2026", "key_size": 2048}
    key = mc.dkim[DOMAIN]
    assert res.id == DOMAIN and res.outs["dns_name"] == f"s2026._domainkey.{DOMAIN}"
    assert res.outs["txt_value"] == f"v=DKIM1;k=rsa;t=s;s=email;p={key['pubkey']}"
    assert res.outs["public_key"] == key["pubkey"]


def test_dkim_update_of_the_connection_alone_reads_the_key_and_writes_nothing(dkim, mc):
    mc.seed_domain(DOMAIN)
    outs = dkim.create(checked(dkim, dkim_inputs(mc))).outs
    mc.reset_counters()
    new = dkim.update(DOMAIN, outs, checked(dkim, dkim_inputs(mc, ca_bundle="/etc/ssl/mailcow.pem", verify_tls=True)))
    assert mc.endpoints() == ["get/dkim/*"]
    assert new.outs["public_key"] == outs["public_key"]


def test_existing_matching_dkim_key_is_adopted_unchanged(dkim, mc):
    mc.seed_domain(DOMAIN)
    old = mc.seed_dkim(DOMAIN, "dkim", 2048)
    res = dkim.create(checked(dkim, dkim_inputs(mc)))
    assert mc.endpoints() == ["add/dkim", "get/dkim/*"] and res.outs["public_key"] == old["pubkey"]


def test_existing_different_dkim_key_is_refused_not_rotated(dkim, mc):
    mc.seed_domain(DOMAIN)
    old = mc.seed_dkim(DOMAIN, "legacy", 1024)
    with pytest.raises(MailcowConflict) as exc:
        dkim.create(checked(dkim, dkim_inputs(mc)))
    assert "'legacy'" in str(exc.value) and "1024" in str(exc.value)
    assert mc.dkim[DOMAIN]["pubkey"] == old["pubkey"]


def test_dkim_key_survives_domain_delete_until_the_dkim_resource_is_deleted(dom, dkim, mc):
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
