"""Mailcow rules: DKIM size, mailbox limits, dynamic resources' type tokens and secrets, set/domain integrity.

Resource rules read a resource's inputs; stack rules read outputs and the resource tree (:mod:`.stack_index`).
"""

from __future__ import annotations

from typing import Any, Iterable

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)

from coldmail.model import tokens
from coldmail.model.mailcow import DKIM_MIN_STRONG_BITS
from coldmail.model.secrets import is_secret_name

from .sdk import UNKNOWN, config_schema, config_value, fqdn, known, plain
from .stack_index import StackIndex

DEFAULT_MAX_MAILBOXES_PER_DOMAIN = 5
DEFAULT_MAX_PER_MAILBOX_PER_DAY = 40


def dkim_key_size_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Keys under 2048 bits are weak (RFC 8301 recommends 2048) and some receivers discount them."""
    if args.resource_type != tokens.MAILCOW_DKIM:
        return
    props = plain(args.props)
    size = props.get("key_size")
    if not known(size):
        return
    minimum = int(config_value(args, "minKeyBits", DKIM_MIN_STRONG_BITS))
    try:
        bits = int(size)
    except (TypeError, ValueError):
        bits = 0
    if bits < minimum:
        report_violation(
            f"DKIM key {args.name} for {props.get('domain')} has key_size {size}: at least {minimum} bits are "
            f"required. Set `coldmail:dkim.keySize: {max(minimum, DKIM_MIN_STRONG_BITS)}`.", args.urn)


dkim_key_size = ResourceValidationPolicy(
    name="dkim-key-size",
    description=f"DKIM keys are at least {DKIM_MIN_STRONG_BITS} bits.",
    validate=dkim_key_size_validator, enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=config_schema(minKeyBits={"type": "integer", "default": DKIM_MIN_STRONG_BITS, "minimum": 1024}))


def mailboxes_per_domain_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Many mailboxes on one domain concentrate risk: one complaint spike burns them all."""
    if args.resource_type != tokens.MAILCOW_MAILBOX_SET:
        return
    props = plain(args.props)
    boxes = props.get("mailboxes")
    if not isinstance(boxes, list):
        return
    limit = int(config_value(args, "maxMailboxesPerDomain", DEFAULT_MAX_MAILBOXES_PER_DOMAIN))
    if len(boxes) > limit:
        report_violation(
            f"Mailbox set {args.name} gives {props.get('domain')} {len(boxes)} mailboxes, more than the cold-email "
            f"maximum of {limit} per domain. Spread them over more domains, or raise `maxMailboxesPerDomain` in "
            "the policy config if you accept the risk.", args.urn)


mailboxes_per_domain = ResourceValidationPolicy(
    name="mailboxes-per-domain",
    description="A domain has no more mailboxes than the cold-email maximum.",
    validate=mailboxes_per_domain_validator, enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=config_schema(maxMailboxesPerDomain={"type": "integer", "default": DEFAULT_MAX_MAILBOXES_PER_DOMAIN,
                                                       "minimum": 1}))


def daily_sends_per_mailbox_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Past about 40 sends per mailbox per day, cold mail gets filtered no matter how warm the IP is."""
    if args.resource_type != tokens.MAILCOW_MAILBOX_SET:
        return
    props = plain(args.props)
    planned = props.get("daily_send_limit")
    if not known(planned) or isinstance(planned, bool):
        return
    cap = int(config_value(args, "maxPerMailboxPerDay", DEFAULT_MAX_PER_MAILBOX_PER_DAY))
    try:
        value = float(planned)
    except (TypeError, ValueError):
        return
    if value > cap:
        report_violation(
            f"Mailbox set {args.name} plans {int(value)} sends per mailbox per day for {props.get('domain')}, above "
            f"the warmup cap of {cap}. Lower `coldmail:warmup.maxPerMailboxPerDay` to {cap} or less.", args.urn)


daily_sends_per_mailbox = ResourceValidationPolicy(
    name="daily-sends-per-mailbox",
    description="Planned daily sends per mailbox stay within the warmup plan's cap.",
    validate=daily_sends_per_mailbox_validator, enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=config_schema(maxPerMailboxPerDay={"type": "integer", "default": DEFAULT_MAX_PER_MAILBOX_PER_DAY,
                                                     "minimum": 1}))


def dynamic_resource_type_token_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Without its own type token a dynamic resource escapes every policy and collides with its siblings."""
    if args.resource_type == tokens.ANONYMOUS_DYNAMIC:
        report_violation(
            f"Dynamic resource {args.name} has the anonymous type {tokens.ANONYMOUS_DYNAMIC}. Declare its class with "
            "`module=\"coldmail\", name=\"<Name>\"` so it becomes pulumi-python:dynamic/coldmail:<Name>.", args.urn)


dynamic_resource_type_token = ResourceValidationPolicy(
    name="dynamic-resource-type-token",
    description="Every dynamic resource carries its own type token instead of pulumi-python:dynamic:Resource.",
    validate=dynamic_resource_type_token_validator, enforcement_level=EnforcementLevel.MANDATORY)


def _clear_secrets(value: Any, sensitive: bool, path: str) -> Iterable[str]:
    """Paths of non-empty strings in clear under a credential-like key (``__`` keys are the SDK's own)."""
    if isinstance(value, Secret) or value is UNKNOWN:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k).startswith("__"):  # __provider: the pickled provider, secret by the SDK's default
                continue
            yield from _clear_secrets(v, sensitive or is_secret_name(k), f"{path}.{k}".lstrip("."))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _clear_secrets(v, sensitive, f"{path}[{i}]")
    elif sensitive and isinstance(value, str) and value:
        yield path


def dynamic_inputs_no_clear_secrets_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Dynamic inputs are stored in state as given: a credential there must be a Pulumi secret, or absent."""
    if not args.resource_type.startswith(tokens.DYNAMIC_PREFIX):
        return
    props = plain(args.props, reveal=False)
    paths = list(_clear_secrets(props, sensitive=False, path=""))
    if paths:
        shown = ", ".join(f"`{p}`" for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        report_violation(
            f"Dynamic resource {args.name} has credentials in clear at input {shown}. Pass them with "
            "pulumi.Output.secret(...) (mailbox passwords), or read them in the provider's configure() "
            "(API keys, never an input).", args.urn)


dynamic_inputs_no_clear_secrets = ResourceValidationPolicy(
    name="dynamic-inputs-no-clear-secrets",
    description="No dynamic resource input holds an API key, password, token or secret in clear.",
    validate=dynamic_inputs_no_clear_secrets_validator, enforcement_level=EnforcementLevel.MANDATORY)


def mailbox_set_has_domain_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Mailboxes of a domain Mailcow does not manage fail to create, or outlive the domain's deletion."""
    stack = StackIndex(args.resources)
    domains = {fqdn(p.get("domain")) for _, p in stack.of(tokens.MAILCOW_DOMAIN) if known(p.get("domain"))}
    for r, p in stack.of(tokens.MAILCOW_MAILBOX_SET):
        domain = p.get("domain")
        if known(domain) and fqdn(domain) not in domains:
            report_violation(
                f"Mailbox set {r.name} is for {domain}, which has no MailcowDomain in this stack. Create it through "
                "MailDomain (add the domain to coldmail:domains) so the domain exists before its mailboxes.", r.urn)


mailbox_set_has_domain = StackValidationPolicy(
    name="mailbox-set-has-domain",
    description="Every mailbox set belongs to a Mailcow domain managed in the same stack.",
    validate=mailbox_set_has_domain_validator, enforcement_level=EnforcementLevel.MANDATORY)


def mailbox_addresses_unique_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """One address managed by two sets flips between their settings on every update."""
    stack = StackIndex(args.resources)
    first: dict[str, str] = {}
    for r, p in stack.of(tokens.MAILCOW_MAILBOX_SET):
        domain = p.get("domain")
        boxes = p.get("mailboxes")
        if not known(domain) or not isinstance(boxes, list):
            continue
        for box in boxes:
            lp = box.get("local_part") if isinstance(box, dict) else None
            if not isinstance(lp, str) or not known(lp):
                continue
            address = f"{lp}@{domain}".lower()
            if address in first:
                report_violation(
                    f"Mailbox {address} is in mailbox set {r.name} and also in {first[address]}. List every "
                    "address once: rename one local part or remove the duplicate domain entry.", r.urn)
            else:
                first[address] = r.name


mailbox_addresses_unique = StackValidationPolicy(
    name="mailbox-addresses-unique",
    description="No mailbox address appears in more than one mailbox set.",
    validate=mailbox_addresses_unique_validator, enforcement_level=EnforcementLevel.MANDATORY)
