"""MailcowClient against the Mailcow emulator on 127.0.0.1: responses, errors, retries, units."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dynamic_providers.client import MIB, MailcowClient, write_slots
from dynamic_providers.errors import (MailcowApiError, MailcowAuthError, MailcowCredentialsError, MailcowError,
                                      MailcowUnavailable)
from tests.support.mailcow_emulator import MailcowEmulator

PASSWORD = "Fake-Test-Passw0rd"


@pytest.fixture
def client(mc):
    with MailcowClient(mc.url, mc.api_key, backoff=0) as c:
        yield c


def make_domain(c, name="a.test", **kw):
    attrs = dict(description="lab", max_mailboxes=10, domain_quota_mb=10240, max_mailbox_quota_mb=2048,
                 default_mailbox_quota_mb=1024)
    attrs.update(kw)
    c.create_domain(name, **attrs)


# ------------------------------------------------------------------ responses and errors

def test_object_shaped_write_response_is_normalised_to_entries():
    MailcowClient._raise_for_entries({"type": "success", "msg": "Task completed"}, "POST", "edit/domain")
    with pytest.raises(MailcowApiError) as exc:
        MailcowClient._raise_for_entries({"type": "error", "msg": "Cannot add item"}, "POST", "add/domain")
    assert exc.value.msg_key == "Cannot add item" and exc.value.msg_args == []


def test_info_entry_counts_as_success_but_a_later_danger_entry_fails_the_call():
    MailcowClient._raise_for_entries([{"type": "info", "msg": "x"}, {"type": "success", "msg": ["ok", 1]}],
                                     "POST", "add/mailbox")
    with pytest.raises(MailcowApiError) as exc:
        MailcowClient._raise_for_entries([{"type": "success", "msg": ["rl_saved", "a@x.tld"]},
                                          {"type": "danger", "msg": ["max_mailbox_exceeded", 10, 10]}],
                                         "POST", "add/mailbox")
    assert exc.value.msg_key == "max_mailbox_exceeded" and exc.value.msg_args == [10, 10]
    assert len(exc.value.entries) == 2


def test_warning_fails_a_write_except_domain_added_sogo_failed():
    with pytest.raises(MailcowApiError):
        MailcowClient._raise_for_entries([{"type": "warning", "msg": ["something_odd", "x"]}], "POST", "add/domain")
    MailcowClient._raise_for_entries([{"type": "warning", "msg": ["domain_added_sogo_failed", "x.tld"]}],
                                     "POST", "add/domain")


def test_business_error_renders_kind_key_args_and_call(client):
    make_domain(client)
    client.create_mailbox("a", "a.test", name="A", password=PASSWORD, quota_mb=100)
    with pytest.raises(MailcowApiError) as exc:
        client.create_mailbox("a", "a.test", name="A", password=PASSWORD, quota_mb=100)
    assert str(exc.value) == "mailbox object_exists ['a@a.test'] (POST add/mailbox)"
    assert exc.value.status == 200 and exc.value.endpoint == "add/mailbox"
    assert PASSWORD not in repr(exc.value.entries)


def test_add_mailbox_to_unknown_domain_is_access_denied_not_a_crash(client):
    with pytest.raises(MailcowApiError) as exc:
        client.create_mailbox("a", "nosuch.test", name="A", password=PASSWORD, quota_mb=100)
    assert exc.value.msg_key == "access_denied" and "domain does not exist" in str(exc.value)


def test_wrong_key_raises_auth_error_once_and_warns_about_the_ban(mc):
    c = MailcowClient(mc.url, "WRONG-FAKE-KEY-0000", backoff=0)
    with pytest.raises(MailcowAuthError) as exc:
        c.list_domains()
    assert len(mc.calls) == 1, "a 401 must never be retried"
    text = str(exc.value)
    assert "authentication failed" in text and "30 minutes" in text and "API_ALLOW_FROM" in text
    assert "WRONG-FAKE-KEY" not in text and exc.value.status == 401


def test_read_only_key_on_a_write_raises_auth_error(mc):
    with MailcowEmulator(read_only_key="READONLY-FAKE-KEY-0000") as ro:
        c = MailcowClient(ro.url, "READONLY-FAKE-KEY-0000", backoff=0)
        assert c.list_domains() == []
        with pytest.raises(MailcowAuthError) as exc:
            make_domain(c)
        assert exc.value.status == 403 and "read-write" in str(exc.value)
        assert ro.domains == {}


class _EmptyBody(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def test_empty_body_on_a_read_means_the_key_did_not_reach_mailcow():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _EmptyBody)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        c = MailcowClient(f"http://127.0.0.1:{srv.server_address[1]}", "FAKE-KEY-0000000000", backoff=0)
        with pytest.raises(MailcowAuthError) as exc:
            c.get_domain("a.test")
        assert "empty body" in str(exc.value)
    finally:
        srv.shutdown()
        srv.server_close()


def test_client_without_a_key_refuses_to_start():
    with pytest.raises(MailcowCredentialsError):
        MailcowClient("https://mx1.example.com", "")


def test_every_error_derives_from_one_root():
    for cls in (MailcowApiError, MailcowAuthError, MailcowUnavailable, MailcowCredentialsError):
        assert issubclass(cls, MailcowError)


# ------------------------------------------------------------------ reads, units, filters

def test_missing_objects_read_as_none_and_empty_lists_as_empty(client, mc):
    assert client.list_domains() == []
    assert client.get_domain("nope.test") is None
    assert client.get_mailbox("x@nope.test") is None
    assert client.get_dkim("nope.test") is None
    assert client.list_relayhosts() == []


def test_quota_goes_out_in_mib_and_comes_back_in_mib(client, mc):
    make_domain(client, domain_quota_mb=4096, max_mailbox_quota_mb=2048, default_mailbox_quota_mb=512)
    client.create_mailbox("a", "a.test", name="A", password=PASSWORD, quota_mb=1536)
    add = next(c for c in mc.calls if c.endpoint == "add/mailbox")
    assert add.body["quota"] == 1536 and add.body["password"] == "*"
    assert mc.mailboxes["a@a.test"]["quota"] == 1536 * MIB
    assert client.get_mailbox("a@a.test").quota_mb == 1536
    assert client.list_mailboxes("a.test")[0].quota_mb == 1536
    d = client.get_domain("a.test")
    assert (d.domain_quota_mb, d.max_mailbox_quota_mb, d.default_mailbox_quota_mb) == (4096, 2048, 512)


def test_mailbox_add_sends_name_and_no_forced_password_change(client, mc):
    make_domain(client)
    client.create_mailbox("anna", "a.test", name="Anna Berg", password=PASSWORD, quota_mb=100)
    body = next(c for c in mc.calls if c.endpoint == "add/mailbox").body
    assert body["name"] == "Anna Berg" and body["force_pw_update"] == 0 and body["active"] == 1
    assert mc.check_password("anna@a.test", PASSWORD)


def test_listing_an_unknown_domain_does_not_return_other_domains_mailboxes(client, mc):
    mc.seed_mailbox("x@other.test", name="X", quota_mb=10)
    mc.seed_mailbox("y@other.test", name="Y", quota_mb=10)
    assert client.list_mailboxes("nope.test") == []
    assert mc.endpoints() == ["get/mailbox/reduced"]
    assert [m.address for m in client.list_mailboxes("other.test")] == ["x@other.test", "y@other.test"]


def test_domain_delete_keeps_the_dkim_key_until_it_is_deleted_itself(client, mc):
    make_domain(client)
    client.create_dkim("a.test", "dkim", 2048)
    client.delete_domain("a.test")
    key = client.get_dkim("a.test")
    assert key is not None and key.txt_value == f"v=DKIM1;k=rsa;t=s;s=email;p={key.public_key}"
    client.delete_dkim("a.test")
    assert client.get_dkim("a.test") is None


def test_relayhost_id_is_looked_up_by_hostname_after_add(client, mc):
    other = mc.seed_relayhost("[172.22.1.1]:2525")
    rid = client.create_relayhost("[172.22.1.1]:2526")
    assert rid != str(other) and mc.relayhosts[int(rid)]["hostname"] == "[172.22.1.1]:2526"
    client.delete_relayhost(rid)
    assert [r.id for r in client.list_relayhosts()] == [str(other)]


def test_relayhost_model_never_carries_the_password(client, mc):
    mc.seed_relayhost("smtp.example.test:587", username="u", password="Fake-Relay-Pass")
    assert "Fake-Relay-Pass" not in repr(client.list_relayhosts())


# ------------------------------------------------------------------ sessions

def test_no_cookie_is_sent_back_to_mailcow(client, mc):
    client.list_domains()
    make_domain(client)
    client.get_domain("a.test")
    # Every answer set a session cookie; none came back.
    assert [c.cookie for c in mc.calls] == [None, None, None]


# ------------------------------------------------------------------ retries

def test_read_is_retried_after_empty_500_and_reset(client, mc):
    make_domain(client)
    mc.inject("500", match="get/domain", times=1)
    mc.inject("reset", match="get/domain", times=1)
    mc.reset_counters()
    assert client.get_domain("a.test").name == "a.test"
    assert [c.fault for c in mc.calls] == ["500", "reset", None]
    assert client.calls["retry"] == 2


def test_boot_time_html_500_is_retried_for_a_write(client, mc):
    mc.booting(requests=2)
    make_domain(client)
    assert [c.fault for c in mc.calls] == ["booting", "booting", None]
    assert list(mc.domains) == ["a.test"]


def test_write_whose_answer_was_lost_is_read_not_resent(client, mc):
    make_domain(client)
    mc.reset_counters()
    mc.inject("lost_response", match="add/mailbox")
    client.create_mailbox("a", "a.test", name="A", password=PASSWORD, quota_mb=100)
    assert mc.endpoints() == ["add/mailbox", "get/mailbox/*"]
    assert list(mc.mailboxes) == ["a@a.test"]


@pytest.mark.parametrize("fault", ["500", "reset"])
def test_write_that_did_not_land_is_sent_again_after_a_read(client, mc, fault):
    make_domain(client)
    mc.reset_counters()
    mc.inject(fault, match="add/mailbox")
    client.create_mailbox("a", "a.test", name="A", password=PASSWORD, quota_mb=100)
    assert mc.endpoints() == ["add/mailbox", "get/mailbox/*", "add/mailbox"]
    assert list(mc.mailboxes) == ["a@a.test"]


def test_many_mailboxes_are_deleted_in_one_call_and_a_missing_one_is_no_error(client, mc):
    make_domain(client)
    for local in "abc":
        client.create_mailbox(local, "a.test", name=local, password=PASSWORD, quota_mb=100)
    mc.reset_counters()
    client.delete_mailboxes(["a@a.test", "ghost@a.test", "c@a.test"])
    # Mailcow said access_denied (no address) for the ghost; only that one is read back.
    assert mc.endpoints() == ["delete/mailbox", "get/mailbox/*"]
    assert mc.calls[0].body == ["a@a.test", "ghost@a.test", "c@a.test"]
    assert list(mc.mailboxes) == ["b@a.test"]


def test_a_mailbox_mailcow_did_not_remove_is_named_in_the_error(client, mc):
    make_domain(client)
    for local in "ab":
        client.create_mailbox(local, "a.test", name=local, password=PASSWORD, quota_mb=100)
    # A delete that reports success for a but says nothing about b, which is still there.
    real = mc._delete_mailbox
    mc._delete_mailbox = lambda items, ret: real(items[:1], ret)
    with pytest.raises(MailcowApiError) as exc:
        client.delete_mailboxes(["a@a.test", "b@a.test"])
    assert exc.value.msg_key == "mailbox_not_removed" and exc.value.msg_args == ["b@a.test"]


def test_a_refused_delete_of_an_existing_mailbox_raises(client, mc):
    make_domain(client)
    client.create_mailbox("a", "a.test", name="A", password=PASSWORD, quota_mb=100)
    mc._delete_mailbox = lambda items, ret: ret.append(mc._entry("danger", [], ["mailbox_locked", items[0]])) or False
    with pytest.raises(MailcowApiError) as exc:
        client.delete_mailboxes(["a@a.test"])
    assert exc.value.msg_key == "mailbox_locked"


def test_lost_delete_answer_is_checked_not_repeated_into_an_error(client, mc):
    make_domain(client)
    client.create_mailbox("a", "a.test", name="A", password=PASSWORD, quota_mb=100)
    mc.reset_counters()
    mc.inject("lost_response", match="delete/mailbox")
    client.delete_mailboxes(["a@a.test"])
    assert mc.endpoints() == ["delete/mailbox", "get/mailbox/*"]
    assert mc.mailboxes == {}


def test_reads_give_up_with_unavailable_after_the_retry_budget(mc):
    c = MailcowClient(mc.url, mc.api_key, retries=3, backoff=0)
    mc.inject("500", match="get/", times=None)
    with pytest.raises(MailcowUnavailable) as exc:
        c.list_domains()
    assert len(mc.calls) == 4 and exc.value.attempts == 4


def test_connection_refused_is_retried_with_growing_capped_backoff():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pauses = []
    c = MailcowClient(f"http://127.0.0.1:{port}", "FAKE-KEY-0000000000", retries=5, backoff=0.5,
                      backoff_max=3, sleep=pauses.append)
    with pytest.raises(MailcowUnavailable):
        make_domain(c)
    assert pauses == [0.5, 1.0, 2.0, 3, 3]


def test_wait_until_ready_polls_through_boot_and_stops_on_a_bad_key(mc):
    mc.booting(requests=8)
    c = MailcowClient(mc.url, mc.api_key, retries=1, backoff=0, sleep=lambda s: None)
    assert c.wait_until_ready(timeout=30, interval=0) == {"version": mc.version}
    bad = MailcowClient(mc.url, "WRONG-FAKE-KEY-0000", backoff=0, sleep=lambda s: None)
    with pytest.raises(MailcowAuthError):
        bad.wait_until_ready(timeout=30, interval=0)


def test_writes_to_one_mailcow_are_bounded_to_four_at_a_time():
    with MailcowEmulator(write_latency=0.05) as mc:
        errors = []

        def add(i):
            try:
                with MailcowClient(mc.url, mc.api_key, backoff=0) as c:
                    c.create_domain(f"d{i}.test")
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        url = mc.url
    assert not errors and len(mc.domains) == 12
    assert 1 <= mc.peak_writes <= 4, f"{mc.peak_writes} writes were in flight at once"
    assert write_slots(url)._value == 4, "every slot is given back"


# ------------------------------------------------------------------ TLS

@pytest.fixture(scope="module")
def snake_oil(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, like Mailcow's before ACME: (PEM with key, PEM of the cert)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.emulator.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    folder = tmp_path_factory.mktemp("tls")
    (folder / "server.pem").write_bytes(cert_pem + key_pem)
    (folder / "ca.pem").write_bytes(cert_pem)
    return str(folder / "server.pem"), str(folder / "ca.pem")


def test_a_snake_oil_certificate_is_refused_until_its_ca_is_given_or_checks_are_turned_off(snake_oil):
    server_pem, ca_pem = snake_oil
    with MailcowEmulator(tls_cert=server_pem) as tls:
        assert tls.url.startswith("https://")
        with pytest.raises(MailcowError) as exc:
            MailcowClient(tls.url, tls.api_key, backoff=0).list_domains()
        assert not isinstance(exc.value, MailcowUnavailable), "a TLS failure is not retried"
        assert "mailcowCaBundle" in str(exc.value) and "mailcowTlsVerify" in str(exc.value)
        assert MailcowClient(tls.url, tls.api_key, verify=ca_pem).list_domains() == []
        assert MailcowClient(tls.url, tls.api_key, verify=False).list_domains() == []
