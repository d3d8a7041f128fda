"""Cloudflare zone ids, looked up once per zone and program run."""

from __future__ import annotations

import weakref
from typing import Any, Optional

import pulumi
import pulumi_cloudflare as cloudflare

# A zone lookup costs two Cloudflare API calls on every preview and every up (docs/platform-notes.md §2), so
# each distinct zone is looked up once per program run, however many domains or records share it.
_zone_lookups: "weakref.WeakKeyDictionary[Any, dict[str, pulumi.Output[str]]]" = weakref.WeakKeyDictionary()


def zone_id_output(zone: str, zone_id: Optional[str] = None) -> pulumi.Output[str]:
    """The Cloudflare zone id: ``zone_id`` from config when set, else one ``get_zone`` per zone and run."""
    if zone_id:
        return pulumi.Output.from_input(zone_id)
    root = pulumi.runtime.settings.get_root_resource()
    cache = _zone_lookups.setdefault(root, {}) if root is not None else {}
    if zone not in cache:
        cache[zone] = cloudflare.get_zone_output(
            filter=cloudflare.GetZoneFilterArgs(name=zone, match="all")).zone_id
    return cache[zone]
