"""No API key and no mailbox password escapes into anything a user could copy.

A full run (create, update with a new mailbox and a rotated password, refresh, a failing step, destroy)
with a distinctive fake API key and distinctive passwords; then every serialised ``__provider`` (base64,
the dill bytes and the unpickled object), every Create/Update/Read output, every error shown to the
user, the provider process's stderr/stdout and the test's own logs and output are scanned.
"""

from __future__ import annotations

import base64
import json
import logging

import dill
import pytest

from tests.support.mail_stack import MailStack, assert_converged, mailbox_specs, servers_config
from tests.support import grpc_harness
from tests.support.grpc_harness import ProviderError
from tests.support.mailcow_emulator import MailcowEmulator

SCAN_KEY = "FAKE-SECRETSCAN-KEY-Q7Z4-XK29-0000"
DOMAINS = ("scan-one.example.test", "scan-two.example.test")


def _password(domain: str, local_part: str, version: int = 1) -> str:
    return f"fake-pw-SCAN{version}-{local_part}-{domain[5:8]}-Zq9"


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(raw), raw.hex().encode()]


def _scan(blob: bytes, secrets: dict[str, str], where: str) -> None:
    for label, secret in secrets.items():
        for form in _forms(secret):
            assert form not in blob, f"{label} found in {where}"


@pytest.mark.parametrize("wire_secrets,key_source", [("engine", "config"), ("keep", "config"), ("engine", "env")])
def test_full_run_leaks_neither_api_key_nor_passwords(wire_secrets, key_source, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    if key_source == "config":
        session = grpc_harness.start(servers_config(SCAN_KEY), secret_keys=["coldmail:servers"],
                                     wire_secrets=wire_secrets)
    else:
        session = grpc_harness.start({"coldmail:servers": [{"name": "mx1", "hostname": "mail.mc.test"}]},
                                     env={"COLDMAIL_MAILCOW_API_KEY_MX1": SCAN_KEY}, wire_secrets=wire_secrets)
    mc = MailcowEmulator(api_key=SCAN_KEY).start()
    errors: list[str] = []
    try:
        h = session.harness
        stack = MailStack(h, mc.url)
        for d in DOMAINS:
            boxes = mailbox_specs(d, 5)
            stack.set_domain(d, boxes, {m["local_part"]: _password(d, m["local_part"]) for m in boxes})
        stack.up()
        assert_converged(mc, stack)

        # Update: one more mailbox, one rotated password, one rename.
        d = DOMAINS[0]
        boxes = mailbox_specs(d, 6)
        boxes[1]["name"] = "Renamed Scan"
        pw = {m["local_part"]: _password(d, m["local_part"]) for m in boxes}
        pw["user002"] = _password(d, "user002", version=2)
        stack.set_domain(d, boxes, pw)
        stack.up()
        assert_converged(mc, stack)

        for r in stack.res.values():
            r.refresh()

        # A failing step: its error text is what the user sees in `pulumi up`.
        mc.inject("500", match="add/mailbox", times=None)
        stack.set_domain(d, mailbox_specs(d, 7), {**pw, "user006": _password(d, "user006")})
        with pytest.raises(ProviderError) as failed:
            stack.up()
        errors.append(failed.value.details)
        mc.clear_faults()
        stack.up()
        stack.destroy()
        assert mc.mailboxes == {} and mc.domains == {}

        secrets = {"API key": SCAN_KEY}
        for dom, spec in stack.desired.items():
            for lp in spec["passwords"]:
                for v in (1, 2):
                    secrets[f"password of {lp}@{dom} (v{v})"] = _password(dom, lp, v)

        # The scan is not vacuous: the passwords did reach the provider as inputs (Check echoes them).
        checks = json.dumps([p for m, p in h.responses if m == "Check"])
        assert _password(DOMAINS[0], "user002", 2) in checks

        assert h.providers_sent, "no __provider was sent"
        for payload in h.providers_sent:
            raw = base64.b64decode(payload)
            _scan(payload.encode(), secrets, "a serialised __provider")
            _scan(raw, secrets, "the dill bytes of a __provider")
            _scan(repr(vars(dill.loads(raw))).encode(), secrets, "an unpickled __provider")
        outputs = [(m, p) for m, p in h.responses if m in ("Create", "Update", "Read")]
        assert len(outputs) >= 3 * len(DOMAINS) * 2
        _scan(json.dumps(outputs).encode(), secrets, "Create/Update/Read outputs")
        _scan("\n".join(errors).encode(), secrets, "an error shown to the user")
    finally:
        session.close()
        mc.stop()
    _scan(session.process.stderr().encode(), secrets, "the provider process's stderr")
    _scan(session.process.stdout().encode(), secrets, "the provider process's stdout")
    captured = capsys.readouterr()
    _scan((caplog.text + captured.out + captured.err).encode(), secrets, "the test's logs and output")
