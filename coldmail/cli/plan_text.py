"""The human report of ``coldmail plan``: a summary, the servers, then only the details asked for.

The ``--json`` document always carries everything; the text stays short at any stack size: the
records of a domain appear with ``--domain NAME`` (or all of them with ``--details``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Optional

from .output import ErrorEntry, table

#: Domains named per sending IP in the server table before the rest are counted.
SHOWN_PER_IP = 3
_SECRET_STATE = {"set": "set (encrypted)", "plaintext": "PLAIN TEXT: re-set encrypted", "not_set": "NOT SET"}


def _rec_rows(records: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r["type"], r["name"], r["priority"] if r["priority"] is not None else "",
             r["value"] + (" (proxied!)" if r["proxied"] else "")] for r in records]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def zones_line(per_zone: dict[str, int]) -> str:
    """``64 in 13 zones: 5 in each of 12 zones, 4 in acme-mailops.com``: zones grouped by record count."""
    by_count: dict[int, list[str]] = defaultdict(list)
    for zone, n in per_zone.items():
        by_count[n].append(zone)
    parts = []
    for n, zones in sorted(by_count.items(), key=lambda kv: (-len(kv[1]), -kv[0])):
        parts.append(f"{n} in {', '.join(sorted(zones))}" if len(zones) <= 2 else f"{n} in each of {len(zones)} zones")
    return f"{sum(per_zone.values())} in {_plural(len(per_zone), 'zone')}" + (": " + "; ".join(parts) if parts else "")


def _summary(plan: dict[str, Any]) -> list[str]:
    s = plan["summary"]
    ips = [ip for srv in plan["servers"] for ip in srv["ips"]]
    floating = sum(1 for ip in ips if ip["role"] == "floating")
    placeholder = " (addresses are placeholders until Hetzner assigns them)" if any(ip["placeholder"] for ip in ips) else ""
    domains = f"{s['domains']}" + (f" of {s['domains_configured']} configured (rollout stage)"
                                   if s["domains_configured"] != s["domains"] else "")
    secrets = f"{s['secrets_missing']} to set before `up` (below)" if s["secrets_missing"] else "all set"
    rows = [
        ["servers", f"{s['servers']}: " + ", ".join(srv["name"] for srv in plan["servers"])],
        ["sending IPs", f"{s['sending_ips']}: {s['sending_ips'] - floating} primary, {floating} floating{placeholder}"],
        ["domains", domains],
        ["mailboxes", str(s["mailboxes"])],
        ["DNS records", zones_line(s["records_per_zone"]) + f" (at most {s['max_records_per_zone']} per zone)"],
        ["reports", _reports(plan["reports"])],
        ["resources", str(s["resources"])],
        ["secrets", secrets],
        ["errors", str(s["errors"])],
        ["warnings", str(s["warnings"]) + (" (on stderr)" if s["warnings"] else "")],
    ]
    return ["SUMMARY"] + [f"  {k:<12} {v}" for k, v in rows]


def _reports(r: dict[str, Any]) -> str:
    """Where DMARC and TLS reports go, and whether the stack makes those mailboxes."""
    addresses = [a for a in (r["dmarc_rua"], r["dmarc_ruf"], r["tls_rpt_rua"]) if a]
    made = set(r["mailboxes"])
    own = [a for a in dict.fromkeys(addresses) if a in made]
    external = [a for a in dict.fromkeys(addresses) if a not in made]
    parts = [f"{', '.join(own)} (mailboxes on {r['server']})"] if own else []
    parts += [f"{', '.join(external)} (external)"] if external else []
    return "; ".join(parts)


def _sending(domains: list[str], details: bool) -> str:
    if not domains:
        return "-"
    if details or len(domains) <= SHOWN_PER_IP + 1:
        return f"{len(domains)}: " + ", ".join(domains)
    return f"{len(domains)}: " + ", ".join(domains[:SHOWN_PER_IP]) + f", +{len(domains) - SHOWN_PER_IP} more"


def _server(s: dict[str, Any], details: bool) -> list[str]:
    lines = [f"SERVER {s['name']}  {s['hostname']}  {s['server_type']} in {s['location']}  Mailcow {s['mailcow_url']}",
             table(["ip", "address", "ptr / helo", "domains sending from it"],
                   [[f"#{ip['index']} {ip['role']}", ip["address"] or "?", ip["ptr"], _sending(ip["domains"], details)]
                    for ip in s["ips"]], indent="  ")]
    if s["ipv6"]:
        lines.append(f"  ipv6: {s['ipv6']}")
    if details and s["host_records"]:
        lines.append("  host records:")
        lines.append(table(["type", "name", "prio", "value"], _rec_rows(s["host_records"]), indent="    "))
    return lines


def _domain(d: dict[str, Any]) -> list[str]:
    uni = f" ({d['unicode_name']})" if d["unicode_name"] != d["name"] else ""
    return [f"DOMAIN {d['name']}{uni}  on {d['server']} ip #{d['ip_index']} "
            f"({d['sending_ip'] or '?'}, helo {d['helo']})  dmarc {d['dmarc_phase']}",
            table(["type", "name", "prio", "value"], _rec_rows(d["records"]), indent="    ")
            if d["records"] else "    (no DNS records registered)",
            "    mailboxes: " + ", ".join(m["address"] for m in d["mailboxes"])]


def render(plan: dict[str, Any], domains: Optional[Iterable[str]] = None, details: bool = False) -> str:
    """The report: summary, servers, then the records of ``domains`` (every domain with ``details``)."""
    lines = [f"coldmail plan: stack {plan['stack']} ({plan['stack_file']})", ""]
    lines += _summary(plan) + [""]
    for s in plan["servers"]:
        lines += _server(s, details) + [""]
    wanted = set(domains or ())
    shown = [d for d in plan["domains"] if details or d["name"] in wanted]
    for d in shown:
        lines += _domain(d) + [""]
    if not details and len(shown) < len(plan["domains"]):
        lines += [f"Records and mailboxes per domain: --domain NAME (one domain) or --details (all "
                  f"{len(plan['domains'])}, plus host records and resource counts); --json has everything.", ""]
    if details:
        lines.append(f"RESOURCES ({plan['resources_total']})")
        lines.append(table(["type", "count"], sorted(plan["resource_counts"].items()), indent="  "))
        lines.append("")
    missing = [s for s in plan["secrets"] if details or s["status"] != "set"]
    if missing:
        lines.append("SECRETS (never read by plan; placeholders were used)")
        for s in missing:
            lines.append(f"  {s['key']:<40} {_SECRET_STATE[s['status']]}")
            if s["status"] != "set":
                lines.append(f"      {s['command']}")
    return "\n".join(lines).rstrip("\n")


def render_errors(errors: list[ErrorEntry], path: str) -> str:
    kind = "CONFIG ERRORS" if all(e.kind == "config" for e in errors) else "ERRORS"
    lines = [f"{kind} in {path} ({len(errors)})"]
    for e in errors:
        lines.append(f"  {e.path or e.kind}: {e.message}")
        if e.fix:
            lines.append(f"      fix: {e.fix}")
    return "\n".join(lines)
