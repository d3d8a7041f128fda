"""The human report of ``coldmail plan``."""

from __future__ import annotations

from typing import Any

from .output import ErrorEntry, table
def _rec_rows(records: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r["type"], r["name"], r["priority"] if r["priority"] is not None else "",
             r["value"] + (" (proxied!)" if r["proxied"] else "")] for r in records]


def render(plan: dict[str, Any]) -> str:
    lines = [f"coldmail plan: stack {plan['stack']} ({plan['stack_file']})", ""]
    placeholder = any(ip["placeholder"] for s in plan["servers"] for ip in s["ips"])
    for s in plan["servers"]:
        lines.append(f"SERVER {s['name']}  {s['hostname']}  {s['server_type']} in {s['location']}  "
                     f"Mailcow {s['mailcow_url']}")
        lines.append(table(["ip", "address", "ptr / helo", "domains sending from it"],
                           [[f"#{ip['index']} {ip['role']}", ip["address"] or "?", ip["ptr"],
                             ", ".join(ip["domains"]) or "-"] for ip in s["ips"]], indent="  "))
        if s["ipv6"]:
            lines.append(f"  ipv6: {s['ipv6']}")
        if s["host_records"]:
            lines.append("  host records:")
            lines.append(table(["type", "name", "prio", "value"], _rec_rows(s["host_records"]), indent="    "))
        lines.append("")
    if placeholder:
        lines += ["  note: addresses in 198.18.0.0/15 (and 2001:db8::/32) are placeholders until Hetzner assigns them.", ""]
    for d in plan["domains"]:
        uni = f" ({d['unicode_name']})" if d["unicode_name"] != d["name"] else ""
        lines.append(f"DOMAIN {d['name']}{uni}  on {d['server']} ip #{d['ip_index']} "
                     f"({d['sending_ip'] or '?'}, helo {d['helo']})  dmarc {d['dmarc_phase']}")
        lines.append(table(["type", "name", "prio", "value"], _rec_rows(d["records"]), indent="    ")
                     if d["records"] else "    (no DNS records registered)")
        lines.append("    mailboxes: " + ", ".join(m["address"] for m in d["mailboxes"]))
        lines.append("")
    lines.append(f"RESOURCES ({plan['resources_total']})")
    lines.append(table(["type", "count"], sorted(plan["resource_counts"].items()), indent="  "))
    lines.append("")
    lines.append("SECRETS (never read by plan; placeholders were used)")
    for s in plan["secrets"]:
        state = {"set": "set (encrypted)", "plaintext": "PLAIN TEXT: re-set encrypted", "not_set": "NOT SET"}[s["status"]]
        lines.append(f"  {s['key']:<40} {state}")
        if s["status"] != "set":
            lines.append(f"      {s['command']}")
    return "\n".join(lines)


def render_errors(errors: list[ErrorEntry], path: str) -> str:
    kind = "CONFIG ERRORS" if all(e.kind == "config" for e in errors) else "ERRORS"
    lines = [f"{kind} in {path} ({len(errors)})"]
    for e in errors:
        lines.append(f"  {e.path or e.kind}: {e.message}")
        if e.fix:
            lines.append(f"      fix: {e.fix}")
    return "\n".join(lines)
