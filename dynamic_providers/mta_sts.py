"""``MailcowMtaSts``: a domain's MTA-STS policy, served by Mailcow itself at ``https://mta-sts.<domain>``.

Mailcow has ``add/mta-sts`` and ``edit/mta-sts`` but no read route (``get/mta-sts`` answers HTTP 404 "route
not found"), so ``read`` fetches the policy where a sending MTA does: ``/.well-known/mta-sts.txt`` with
``Host: mta-sts.<domain>``. The API has no delete route for a policy either (docs/mailcow-api.md §11 lists
add and edit only), so ``delete`` deactivates it with ``edit/mta-sts`` (``active: 0``): Mailcow stops serving
it and its ACME container drops ``mta-sts.<domain>`` from the certificate. The stack removes the ``_mta-sts``
TXT with the domain's other records, so no sender looks for the policy any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult

from coldmail.model.names import normalise_domain
from coldmail.model.records import MTA_STS_MODES, mta_sts_policy, mta_sts_policy_id

from .base import (CONNECTION_KEYS, Inputs, MailcowProvider, SafeResource, changed_keys, connection_props,
                   is_unknown, plain)
from .client import MailcowClient, MtaStsPolicy
from .errors import MailcowConflict

POLICY_KEYS = ("mode", "mx", "max_age")
#: Stored for the policy pack (``mta-sts-enforce-after-testing``); never sent to Mailcow.
INFORMATIONAL = ("testing_since",)


def _outputs(props: dict, served: Optional[MtaStsPolicy]) -> dict:
    policy = mta_sts_policy(props["mode"], props["mx"], props["max_age"])
    out = {**props, "policy": served.text if served else policy,
           "policy_id": mta_sts_policy_id(served.text if served else policy)}
    if served is not None:
        out.update(mode=served.mode, mx=list(served.mx), max_age=served.max_age)
    return out


def _same(served: MtaStsPolicy, props: dict) -> bool:
    return (served.mode, list(served.mx), served.max_age) == (props["mode"], list(props["mx"]), props["max_age"])


class MailcowMtaStsProvider(MailcowProvider):
    """Adds the policy or adopts an identical served one; edits only what changed; reads the served file.

    A policy that is already served and differs from the stack's is not taken over: someone else made it.
    """

    def check(self, _olds: dict, news: dict) -> CheckResult:
        r = Inputs(news)
        r.connection()
        r.domain()
        mode = r.string("mode")
        if isinstance(mode, str) and not r.unknown("mode") and mode not in MTA_STS_MODES:
            r.fail("mode", f"must be one of {', '.join(MTA_STS_MODES)}, got {mode!r}")
        r.integer("max_age", 604800, lo=86400, why="RFC 8461 senders refetch a shorter policy all the time")
        mx = r.raw.get("mx")
        if not is_unknown(mx):
            if not isinstance(mx, (list, tuple)) or not mx:
                r.fail("mx", f"must list the MX hosts, got {mx!r}")
            else:
                try:
                    r.out["mx"] = [normalise_domain(str(h)) for h in mx]
                except ValueError as exc:
                    r.fail("mx", f"{mx!r} holds a name that is not a host name: {exc}")
        r.string("testing_since", required=False)
        return CheckResult(r.out, r.failures)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        olds, news = plain(olds), plain(news)
        changes = changed_keys(olds, news, ("domain", *POLICY_KEYS, *INFORMATIONAL, *CONNECTION_KEYS))
        return DiffResult(changes=bool(changes), replaces=["domain"] if "domain" in changes else [],
                          delete_before_replace=False)

    def _write(self, c: MailcowClient, props: dict, served: Optional[MtaStsPolicy]) -> MtaStsPolicy:
        domain = props["domain"]
        policy = {k: props[k] for k in POLICY_KEYS}
        if served is None:
            c.create_mta_sts(domain, **policy)
        elif not _same(served, props):
            c.update_mta_sts(domain, **policy)
        else:
            return served
        after = c.get_mta_sts(domain)
        if after is None or not _same(after, props):
            raise MailcowConflict(f"Mailcow accepted the MTA-STS policy of {domain} but serves "
                                  f"{after.text if after else 'nothing'!r} at mta-sts.{domain}")
        return after

    def create(self, props: dict) -> CreateResult:
        props = self.state(props)
        with self.client(props) as c:
            served = c.get_mta_sts(props["domain"])
            if served is not None and not _same(served, props):
                raise MailcowConflict(
                    f"{props['domain']} already has an MTA-STS policy (mode {served.mode}, mx {', '.join(served.mx)}, "
                    f"max_age {served.max_age}) that the stack did not make. coldmail does not take it over: remove "
                    "it in Mailcow (Configuration > Domains > MTA-STS) or set coldmail:dns to match it")
            served = self._write(c, props, served)
        return CreateResult(props["domain"], _outputs(props, served))

    def update(self, _id: str, _olds: dict, news: dict) -> UpdateResult:
        news = self.state(news)
        with self.client(news) as c:
            served = self._write(c, news, c.get_mta_sts(news["domain"]))
        return UpdateResult(_outputs(news, served))

    def read(self, id_: str, props: dict) -> ReadResult:
        props = self.state(props)
        with self.client(props) as c:
            served = c.get_mta_sts(id_)
        if served is None:
            return ReadResult("", {})
        return ReadResult(id_, _outputs(props, served))

    def delete(self, id_: str, props: dict) -> None:
        props = self.state(props)
        with self.client(props) as c:
            if c.get_mta_sts(id_) is None:
                return
            c.update_mta_sts(id_, mode=props["mode"], mx=props["mx"], max_age=props["max_age"], active=False)


@dataclass(frozen=True, kw_only=True)
class MailcowMtaStsArgs:
    """Inputs of :class:`MailcowMtaSts`."""

    api_url: pulumi.Input[str]
    server: pulumi.Input[str]
    domain: pulumi.Input[str]
    mode: pulumi.Input[str]
    mx: pulumi.Input[Sequence[str]]
    max_age: pulumi.Input[int] = 604800
    testing_since: Optional[pulumi.Input[str]] = None
    """``coldmail:dns.mtaStsTestingSince`` (YYYY-MM-DD): what the policy pack judges ``enforce`` by."""
    verify_tls: pulumi.Input[bool] = True
    ca_bundle: Optional[pulumi.Input[str]] = None


class MailcowMtaSts(SafeResource, module="coldmail", name="MailcowMtaSts"):
    """The MTA-STS policy Mailcow serves for one domain (id: the domain)."""

    policy: pulumi.Output[str]
    """The policy file as served."""
    policy_id: pulumi.Output[str]
    """The id the ``_mta-sts`` TXT record carries: it changes exactly when ``policy`` does."""

    def __init__(self, name: str, args: MailcowMtaStsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = {**connection_props(args), "domain": args.domain, "mode": args.mode, "mx": args.mx,
                 "max_age": args.max_age, "testing_since": args.testing_since, "policy": None, "policy_id": None}
        super().__init__(MailcowMtaStsProvider(), name, props, opts)
