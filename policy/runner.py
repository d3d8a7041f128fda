"""Running the pack without the engine: the tests, and ``coldmail`` commands that judge a mocked program.

:func:`from_recorded` turns the mock engine's registrations into what the engine hands a pack, and
:func:`evaluate` applies every policy to them as the engine would, pack config included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
)

from .pack import ALL


@dataclass(frozen=True)
class Violation:
    """One report of a policy: its name, the level it ran at, the message and the resource's URN."""

    policy: str
    level: EnforcementLevel
    message: str
    urn: Optional[str]


def _policy_config(policy: Any, config: Mapping[str, Any]) -> tuple[EnforcementLevel, dict[str, Any]]:
    entry = config.get(policy.name)
    if isinstance(entry, (EnforcementLevel, str)):
        entry = {"enforcementLevel": entry}
    entry = dict(entry or {})
    override = entry.pop("enforcementLevel", None)
    if isinstance(override, str):
        override = EnforcementLevel(override.lower())
    return override or policy.enforcement_level or EnforcementLevel.ADVISORY, entry


def evaluate(resource_args: Iterable[tuple[str, Mapping[str, Any], str, str]], stack_resources: list[PolicyResource],
             config: Optional[Mapping[str, Any]] = None, policies: Optional[list] = None) -> list[Violation]:
    """Every violation the pack reports, as the engine would: resource policies on each resource's
    inputs (``(type, props, urn, name)``), stack policies once over ``stack_resources`` (outputs).

    ``config`` is the ``--policy-pack-config`` shape: ``{policy: {"enforcementLevel": ..., key: value}}``.
    """
    config = dict(config or {})
    found: list[Violation] = []
    resource_args = list(resource_args)
    for policy in policies or ALL:
        level, props_cfg = _policy_config(policy, config)
        if level == EnforcementLevel.DISABLED:
            continue

        def report(msg: str, urn: Optional[str] = None, _p=policy, _l=level) -> None:
            found.append(Violation(_p.name, _l, msg, urn))

        if isinstance(policy, ResourceValidationPolicy):
            for typ, props, urn, name in resource_args:
                policy.validate(ResourceValidationArgs(typ, props, urn, name, default_options(), None, props_cfg),
                                report)
        else:
            policy.validate(StackValidationArgs(stack_resources, props_cfg), report)
    return found


def default_options() -> PolicyResourceOptions:
    """The resource options of a resource registered with none."""
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _mark_secrets(values: Mapping[str, Any], secret_keys: Iterable[str]) -> dict[str, Any]:
    keys = set(secret_keys)
    return {k: Secret(v) if k in keys else v for k, v in values.items()}


def from_recorded(resources: Iterable[Any]) -> tuple[list[tuple[str, dict, str, str]], list[PolicyResource]]:
    """Convert recorded registrations (:class:`coldmail.ops.mock_engine.Recorded`) into what the engine hands
    the pack: ``(type, inputs, urn, name)`` for resource policies and linked :class:`PolicyResource` outputs
    for stack policies. Secret inputs arrive marked, as :func:`policy.sdk.keep_secret_markers` makes the SDK do."""
    resources = list(resources)
    resource_args = [(r.type, _mark_secrets(r.inputs, r.secret_inputs), r.urn, r.name) for r in resources]
    stack: dict[str, PolicyResource] = {}
    for r in resources:
        outputs = _mark_secrets(r.outputs, set(r.secret_inputs) | set(r.additional_secret_outputs))
        stack[r.urn] = PolicyResource(r.type, outputs, r.urn, r.name, default_options(), None, None, [], {})
    for r in resources:
        res = stack[r.urn]
        res.parent = stack.get(r.parent) if r.parent else None
        res.dependencies = [stack[u] for u in r.dependencies if u in stack]
        res.property_dependencies = {k: [stack[u] for u in v if u in stack] for k, v in r.property_dependencies.items()}
    return resource_args, list(stack.values())
