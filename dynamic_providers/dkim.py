"""``MailcowDkim``: a domain's DKIM key, created or adopted explicitly and removed explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult

from coldmail.model.mailcow import DEFAULT_DKIM_SELECTOR, DKIM_KEY_SIZES, dkim_selector_problem

from .base import (CONNECTION_KEYS, Inputs, MailcowProvider, SafeResource, changed_keys, connection_props,
                   plain)
from .client import DkimKey, MailcowClient
from .errors import MailcowApiError, MailcowConflict


def _outputs(props: dict, key: DkimKey) -> dict:
    return {**props, "selector": key.selector, "key_size": key.key_size, "public_key": key.public_key,
            "dns_name": key.dns_name, "txt_value": key.txt_value}


class MailcowDkimProvider(MailcowProvider):
    """Creates a key with the configured selector and size, or adopts an identical existing one.

    A different existing key is an error, never replaced silently: rotating a DKIM key breaks signatures
    until DNS follows, so it must be a deliberate change of ``selector``/``key_size`` in the stack.
    Deleting the domain does not remove its key (Mailcow keeps keys in Redis), so ``delete`` calls
    ``delete/dkim`` itself.
    """

    def check(self, _olds: dict, news: dict) -> CheckResult:
        r = Inputs(news)
        r.connection()
        r.domain()
        selector = r.string("selector", required=False, default=DEFAULT_DKIM_SELECTOR)
        if isinstance(selector, str) and not r.unknown("selector") and dkim_selector_problem(selector):
            r.fail("selector", f"{selector!r} {dkim_selector_problem(selector)}")
        size = r.integer("key_size", 2048)
        if size is not None and size not in DKIM_KEY_SIZES:
            r.fail("key_size", f"must be one of {', '.join(map(str, DKIM_KEY_SIZES))}, got {size}")
        return CheckResult(r.out, r.failures)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        olds, news = plain(olds), plain(news)
        changes = changed_keys(olds, news, ("domain", "selector", "key_size", *CONNECTION_KEYS))
        replaces = [k for k in changes if k in ("domain", "selector", "key_size")]
        # Mailcow holds one key per domain, so a new key for the same domain needs the old one gone first.
        same_domain = "domain" not in changes
        return DiffResult(changes=bool(changes), replaces=replaces,
                          delete_before_replace=bool(replaces) and same_domain)

    def _ensure(self, c: MailcowClient, props: dict, *, read_first: bool) -> DkimKey:
        """Add the key, or adopt the identical one that exists. ``read_first`` where a key usually exists
        (an update); a create adds straight away: one write and one read either way."""
        domain, selector, size = props["domain"], props["selector"], props["key_size"]
        key = c.get_dkim(domain) if read_first else None
        if key is None:
            try:
                c.create_dkim(domain, selector, size)
            except MailcowApiError as exc:
                # Mailcow answers an existing key like a bad selector; the read tells them apart.
                key = c.get_dkim(domain) if exc.msg_key == "dkim_domain_or_sel_invalid" else None
                if key is None:
                    raise
            key = key or c.get_dkim(domain)
        if key is None:
            raise MailcowConflict(f"Mailcow accepted a DKIM key for {domain} but does not return it")
        if key.selector != selector or key.key_size != size:
            raise MailcowConflict(
                f"{domain} already has a DKIM key with selector {key.selector!r} and {key.key_size} bits, but the "
                f"stack wants selector {selector!r} and {size} bits. coldmail does not rotate keys on its own: "
                f"set coldmail:dkim to selector {key.selector!r} / keySize {key.key_size} to keep it, or delete "
                f"the key in Mailcow (Configuration > ARC/DKIM keys) to have a new one made")
        return key

    def create(self, props: dict) -> CreateResult:
        props = self.state(props)
        with self.client(props) as c:
            key = self._ensure(c, props, read_first=False)
        return CreateResult(props["domain"], _outputs(props, key))

    def update(self, _id: str, _olds: dict, news: dict) -> UpdateResult:
        news = self.state(news)
        with self.client(news) as c:
            key = self._ensure(c, news, read_first=True)
        return UpdateResult(_outputs(news, key))

    def read(self, id_: str, props: dict) -> ReadResult:
        props = self.state(props)
        with self.client(props) as c:
            key = c.get_dkim(id_)
        if key is None:
            return ReadResult("", {})
        return ReadResult(id_, _outputs(props, key))

    def delete(self, id_: str, props: dict) -> None:
        props = self.state(props)
        with self.client(props) as c:
            c.delete_dkim(id_)


@dataclass(frozen=True, kw_only=True)
class MailcowDkimArgs:
    """Inputs of :class:`MailcowDkim`."""

    api_url: pulumi.Input[str]
    server: pulumi.Input[str]
    domain: pulumi.Input[str]
    selector: pulumi.Input[str] = "dkim"
    key_size: pulumi.Input[int] = 2048
    verify_tls: pulumi.Input[bool] = True
    ca_bundle: Optional[pulumi.Input[str]] = None


class MailcowDkim(SafeResource, module="coldmail", name="MailcowDkim"):
    """The DKIM key Mailcow signs a domain's mail with (id: the domain)."""

    public_key: pulumi.Output[str]
    """Base64 DER public key, without PEM armour."""
    dns_name: pulumi.Output[str]
    """Where the TXT record goes: ``<selector>._domainkey.<domain>``."""
    txt_value: pulumi.Output[str]
    """Mailcow's ``dkim_txt`` as one string; split it into 255-byte chunks for DNS."""

    def __init__(self, name: str, args: MailcowDkimArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = {**connection_props(args), "domain": args.domain, "selector": args.selector,
                 "key_size": args.key_size, "public_key": None, "dns_name": None, "txt_value": None}
        super().__init__(MailcowDkimProvider(), name, props, opts)
