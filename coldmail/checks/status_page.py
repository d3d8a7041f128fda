"""The status page: one static HTML file (inline CSS and SVG, no external asset) drawn from the history.

It answers, at a glance, "is anything wrong and since when?": a grid of sending IPs, domains and servers
against the check families with each cell's state and since when, the listings with their delist links
and proposed moves, certificate expiry, and per IP a chart of its blacklist history. What other
capabilities record under the names in :mod:`coldmail.ops.signals` (warmup sends against the cap,
inbox placement, the latest backup) appears when present.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from coldmail.ops.history import FAIL, INFO, OK, SEVERITY, UNKNOWN, WARN, History, Observation, State
from coldmail.ops.signals import (AUTH, BACKUP, BACKUP_LATEST, BLACKLIST, DNS, POSTMASTER, SMTP, TLS, TLS_EXPIRY,
                                  WARMUP, WARMUP_PLACEMENT, WARMUP_SENT, family)

from .blacklist import IP_LISTS
from .remedy import propose
from .targets import Targets

#: How far back the per-IP charts reach, and their drawing width (they scale down to the page).
CHART_DAYS = 14
CHART_WIDTH = 1200
_COLOURS = {OK: "#1f883d", WARN: "#bf8700", FAIL: "#cf222e", UNKNOWN: "#6e7781", INFO: "#0969da"}
_WORDS = {OK: "ok", WARN: "warning", FAIL: "failing", UNKNOWN: "unknown", INFO: "info"}
_BLACKLIST_WORDS = {OK: "clean", FAIL: "listed", INFO: "listed (info)", UNKNOWN: "unknown", WARN: "warning"}
#: Which state a cell shows: the history's severity, with information above plain ok so it is seen.
_RANK = {OK: 0, INFO: 1, UNKNOWN: 2, WARN: 3, FAIL: 4}

CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif;color:#1f2328;background:#f6f8fa}
header{background:#0d1117;color:#f0f6fc;padding:18px 32px;display:flex;align-items:center;gap:20px}
header h1{font-size:20px;margin:0;font-weight:600}header .meta{color:#9198a1;font-size:13px;margin-left:auto}
main{padding:20px 32px;max-width:1400px}
section{background:#fff;border:1px solid #d1d9e0;border-radius:8px;margin:0 0 18px;padding:16px 20px}
h2{font-size:16px;margin:0 0 12px;font-weight:600}h2 small{color:#59636e;font-weight:400;margin-left:6px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #eaeef2;
vertical-align:top}th{font-size:12px;color:#59636e;font-weight:600;text-transform:uppercase;letter-spacing:.03em}
tr:last-child td{border-bottom:none}.sub{color:#59636e;font-size:12px}.mono{font-family:ui-monospace,
SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.cell{display:inline-flex;flex-direction:column;min-width:92px}.badge{display:inline-block;padding:2px 9px;
border-radius:12px;color:#fff;font-size:12px;font-weight:600;white-space:nowrap}.since{font-size:11px;color:#59636e}
.none{color:#8c959f}.totals{display:flex;gap:10px}.total{padding:4px 12px;border-radius:14px;font-weight:600;
font-size:13px;color:#fff}.ok{background:#1f883d}.warn{background:#bf8700}.fail{background:#cf222e}
.unknown{background:#6e7781}.info{background:#0969da}.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px}
.bar{height:8px;border-radius:4px;background:#eaeef2;overflow:hidden;width:160px;display:inline-block;
vertical-align:middle;margin-right:8px}.bar span{display:block;height:100%}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}code{background:#f6f8fa;padding:2px 6px;
border-radius:4px;font-size:12.5px}.chart{margin:6px 0 14px}.chart h3{font-size:13px;margin:0 0 4px}
.empty{color:#59636e}.chart svg{max-width:1200px;display:block}
"""


@dataclass(frozen=True)
class Column:
    title: str
    families: tuple[str, ...]
    checks: tuple[str, ...] = ()
    """Exact check names; empty means every check of ``families``."""

    def matches(self, check: str) -> bool:
        return check in self.checks if self.checks else family(check) in self.families


IP_COLUMNS = (Column("Blacklists", (BLACKLIST,)), Column("PTR / FCrDNS", (AUTH,), ("auth.fcrdns",)),
              Column("HELO", (AUTH,), ("auth.helo",)), Column("A record", (DNS,)),
              Column("Outbound 25", (SMTP,), ("smtp.outbound-25",)), Column("Warmup", (WARMUP,)))
DOMAIN_COLUMNS = (Column("DNS records", (DNS,)), Column("SPF / DMARC", (AUTH,), ("auth.spf", "auth.spf-record",
                                                                                 "auth.dmarc")),
                  Column("DKIM", (AUTH,), ("auth.dkim",)), Column("MTA-STS", (AUTH,), ("auth.mta-sts",)),
                  Column("Blacklists", (BLACKLIST,)), Column("Gmail", (POSTMASTER,)), Column("Warmup", (WARMUP,)))
SERVER_COLUMNS = (Column("SMTP ports", (SMTP,)), Column("Certificate", (TLS,)), Column("Backup", (BACKUP,)))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def ago(then: _dt.datetime, now: _dt.datetime) -> str:
    """``3 min``, ``5 h``, ``2 d``: how long ago, for people."""
    s = max(0, int((now - then).total_seconds()))
    if s < 3600:
        return f"{max(1, s // 60)} min"
    if s < 2 * 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def _word(status: str, families: Iterable[str]) -> str:
    return (_BLACKLIST_WORDS if set(families) == {BLACKLIST} else _WORDS)[status]


def cell(states: Sequence[State], column: Column, now: _dt.datetime) -> str:
    """The grid cell of one subject: the worst state of the column's checks and since when it holds."""
    chosen = [s for s in states if column.matches(s.observation.check)]
    if not chosen:
        return '<td><span class="none">not checked</span></td>'
    worst = max(chosen, key=lambda s: _RANK[s.observation.status]).observation.status
    at_worst = [s for s in chosen if s.observation.status == worst]
    since = min(s.since for s in at_worst)
    tip = "\n".join(f"{s.observation.check}: {s.observation.summary}" for s in
                    sorted(chosen, key=lambda s: (-_RANK[s.observation.status], s.observation.check)))
    return (f'<td><span class="cell" title="{_e(tip)}" data-status="{worst}">'
            f'<span class="badge" style="background:{_COLOURS[worst]}">{_e(_word(worst, column.families))}</span>'
            f'<span class="since">since {_e(ago(since, now))} · {len(chosen)} check{"s" * (len(chosen) != 1)}'
            f'</span></span></td>')


def _grid(title: str, hint: str, rows: list[tuple[str, str, str]], columns: Sequence[Column],
          by_subject: dict[str, list[State]], now: _dt.datetime, grid_id: str) -> str:
    head = "".join(f"<th>{_e(c.title)}</th>" for c in columns)
    body = []
    for subject, name, detail in rows:
        states = by_subject.get(subject, [])
        cells = "".join(cell(states, c, now) for c in columns)
        body.append(f'<tr data-subject="{_e(subject)}"><td><b>{_e(name)}</b><div class="sub">{_e(detail)}</div></td>'
                    f"{cells}</tr>")
    return (f'<section id="{grid_id}"><h2>{_e(title)}<small>{_e(hint)}</small></h2><table><thead><tr><th></th>'
            f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></section>")


def _listings(states: Sequence[State], now: _dt.datetime) -> str:
    rows = []
    for s in sorted(states, key=lambda s: (-SEVERITY[s.observation.status], s.observation.subject)):
        o = s.observation
        if family(o.check) != BLACKLIST or not o.data.get("listed"):
            continue
        link = o.data.get("delist")
        delist = f'<a href="{_e(link)}" rel="noreferrer">delist</a>' if link else ""
        rows.append(f'<tr data-check="{_e(o.check)}" data-subject="{_e(o.subject)}"><td>'
                    f'<span class="badge" style="background:{_COLOURS[o.status]}">'
                    f"{_e(_BLACKLIST_WORDS[o.status])}</span></td><td class=mono>{_e(o.subject.split(':', 1)[-1])}</td>"
                    f"<td>{_e(o.data.get('list', o.check))}</td><td>{_e('; '.join(o.data.get('meanings') or []))}</td>"
                    f"<td>since {_e(ago(s.since, now))}<div class=sub>{_e(s.since.strftime('%Y-%m-%d %H:%M'))} UTC"
                    f"</div></td><td>{delist}</td></tr>")
    if not rows:
        return '<section id="listings"><h2>Listings</h2><p class="empty">No IP or domain is listed.</p></section>'
    return ('<section id="listings"><h2>Listings<small>information-only lists (UCEPROTECT 2/3) never hold sending'
            '</small></h2><table><thead><tr><th>State</th><th>IP / domain</th><th>List</th><th>Reason</th>'
            f"<th>Since</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


def _proposals(stack_name: str, targets: Targets, states: Sequence[State]) -> str:
    proposals = propose(stack_name, targets, [s.observation for s in states])
    if not proposals:
        return ""
    items = []
    for p in proposals:
        moves = "".join(f"<li><code>{_e(m.command)}</code></li>" for m in p.moves)
        note = p.note[:1].upper() + p.note[1:]
        items.append(f"<li><b>{_e(p.ip.address)}</b> ({_e(p.ip.label)}) is listed on {_e(', '.join(p.lists))}. "
                     f"{_e(note)}.<ul>{moves}</ul></li>")
    return (f'<section id="proposals"><h2>Proposed fixes<small>nothing moves until you run them</small></h2>'
            f"<ul>{''.join(items)}</ul></section>")


def _certificates(targets: Targets, states: Sequence[State], now: _dt.datetime) -> str:
    rows = []
    for server in targets.servers:
        s = next((s for s in states if s.observation.check == TLS_EXPIRY and s.observation.subject == server.subject),
                 None)
        if s is None or s.observation.value is None:
            rows.append(f"<tr><td><b>{_e(server.hostname)}</b></td><td colspan=3 class=none>not checked</td></tr>")
            continue
        days = s.observation.value
        share = max(0.0, min(1.0, days / 90))
        colour = _COLOURS[s.observation.status]
        rows.append(f'<tr data-subject="{_e(server.subject)}"><td><b>{_e(server.hostname)}</b></td>'
                    f'<td><span class="bar"><span style="width:{share * 100:.0f}%;background:{colour}"></span></span>'
                    f"<b>{int(days)} days</b></td><td>{_e(s.observation.summary)}</td>"
                    f"<td>checked {_e(ago(s.observation.at or now, now))} ago</td></tr>")
    return (f'<section id="certificates"><h2>Certificates<small>warnings at 30, 7 and 1 days</small></h2><table>'
            f"<tbody>{''.join(rows)}</tbody></table></section>")


def _timeline(observations: Sequence[Observation], start: _dt.datetime, now: _dt.datetime,
              rows: Sequence[tuple[str, str]]) -> str:
    """An SVG strip per row (check name, label): each observation coloured until the next one."""
    width, label_w, row_h, top = CHART_WIDTH, 150, 18, 6
    span = (now - start).total_seconds() or 1.0
    plot_w = width - label_w - 10
    height = top + row_h * len(rows) + 22

    def x(t: _dt.datetime) -> float:
        return label_w + plot_w * max(0.0, min(1.0, (t - start).total_seconds() / span))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img">']
    for i, (check, label) in enumerate(rows):
        y = top + i * row_h
        parts.append(f'<text x="0" y="{y + 12}" font-size="11" fill="#59636e">{_e(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{plot_w}" height="{row_h - 5}" fill="#eaeef2" rx="2"/>')
        points = [o for o in observations if o.check == check and o.at is not None]
        for k, o in enumerate(points):
            end = points[k + 1].at if k + 1 < len(points) else now
            x0, x1 = x(o.at), x(end)  # type: ignore[arg-type]
            parts.append(f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(1.5, x1 - x0):.1f}" height="{row_h - 5}" '
                         f'fill="{_COLOURS[o.status]}" rx="2" data-check="{_e(check)}" data-status="{o.status}">'
                         f"<title>{_e(o.summary)}</title></rect>")
    axis_y = top + row_h * len(rows) + 14
    days = max(1, int(span // 86400))
    step = max(1, days // 7)
    for d in range(0, days + 1, step):
        t = start + _dt.timedelta(days=d)
        anchor = "end" if d == days else "start" if d == 0 else "middle"
        parts.append(f'<text x="{x(t):.1f}" y="{axis_y}" font-size="10" fill="#8c959f" text-anchor="{anchor}">'
                     f"{t.strftime('%d %b')}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _charts(targets: Targets, history: History, now: _dt.datetime) -> str:
    start = now - _dt.timedelta(days=CHART_DAYS)
    blocks = []
    for ip in targets.ips:
        observations = history.observations(since=start, subject=ip.subject)
        rows = [(bl.check, bl.name) for bl in IP_LISTS]
        sent = [o for o in observations if o.check == WARMUP_SENT]
        chart = _timeline(observations, start, now, rows)
        warm = _warmup_bars(sent, start, now) if sent else ""
        blocks.append(f'<div class="chart" data-subject="{_e(ip.subject)}"><h3>{_e(ip.address or ip.label)} '
                      f'<span class="sub">{_e(ip.label)} · {_e(ip.ptr_name)}</span></h3>{chart}{warm}</div>')
    return (f'<section id="history"><h2>Blacklist history per IP<small>last {CHART_DAYS} days; hover a bar for '
            f"the answer</small></h2>{''.join(blocks)}</section>")


def _warmup_bars(sent: Sequence[Observation], start: _dt.datetime, now: _dt.datetime) -> str:
    """Daily warmup sends (bars) against the day's cap (ticks)."""
    width, label_w, height = CHART_WIDTH, 150, 70
    plot_w = width - label_w - 10
    span = (now - start).total_seconds() or 1.0
    peak = max([o.value or 0 for o in sent] + [int(o.data.get("cap") or 0) for o in sent] + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img">',
             '<text x="0" y="14" font-size="11" fill="#59636e">warmup sent / cap</text>']
    bar_w = max(3.0, plot_w / CHART_DAYS * 0.6)
    for o in sent:
        x = label_w + plot_w * max(0.0, min(1.0, ((o.at or now) - start).total_seconds() / span)) - bar_w
        h = 50 * (o.value or 0) / peak
        cap = 50 * int(o.data.get("cap") or 0) / peak
        parts.append(f'<rect x="{x:.1f}" y="{56 - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                     f'fill="{_COLOURS[o.status]}" opacity="0.8"><title>{_e(o.summary)}</title></rect>')
        parts.append(f'<rect x="{x - 1:.1f}" y="{56 - cap:.1f}" width="{bar_w + 2:.1f}" height="2" fill="#1f2328"/>')
    parts.append("</svg>")
    return "".join(parts)


def _capabilities(states: Sequence[State], now: _dt.datetime) -> str:
    """Warmup and backup, as far as the history holds them (other capabilities write these)."""
    warm = [s for s in states if s.observation.check in (WARMUP_SENT, WARMUP_PLACEMENT)]
    backups = [s for s in states if s.observation.check == BACKUP_LATEST]
    if not warm and not backups:
        return ""
    rows = []
    for s in sorted(warm, key=lambda s: (s.observation.subject, s.observation.check)):
        o = s.observation
        if o.check == WARMUP_SENT:
            what = f"sent {int(o.value or 0)} of {o.data.get('cap', '?')} today"
        else:
            what = f"inbox placement {100 * (o.value or 0):.0f}%" + (f" ({o.data['provider']})"
                                                                     if o.data.get("provider") else "")
        rows.append(_state_row(s, o.check, what, now))
    for s in backups:
        rows.append(_state_row(s, s.observation.check, f"latest backup {s.observation.value or 0:.0f} h old", now))
    return (f'<section id="operations"><h2>Warmup and backups</h2><table><thead><tr><th>State</th><th>Subject</th>'
            f"<th>Check</th><th>Value</th><th>Since</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


def _state_row(s: State, check: str, what: str, now: _dt.datetime) -> str:
    o = s.observation
    return (f'<tr data-check="{_e(check)}" data-subject="{_e(o.subject)}"><td><span class="badge" '
            f'style="background:{_COLOURS[o.status]}">{_e(_WORDS[o.status])}</span></td>'
            f"<td class=mono>{_e(o.subject)}</td><td>{_e(check)}</td><td>{_e(what)}</td>"
            f"<td>since {_e(ago(s.since, now))}</td></tr>")


def _attention(states: Sequence[State], now: _dt.datetime) -> str:
    bad = sorted((s for s in states if s.observation.status in (FAIL, WARN, UNKNOWN)),
                 key=lambda s: (-SEVERITY[s.observation.status], s.observation.subject, s.observation.check))
    if not bad:
        return '<section id="attention"><h2>Needs attention</h2><p class="empty">Nothing: every check is ok.</p></section>'
    rows = "".join(_state_row(s, s.observation.check, s.observation.summary, now) for s in bad[:40])
    more = f'<p class="sub">… and {len(bad) - 40} more</p>' if len(bad) > 40 else ""
    return (f'<section id="attention"><h2>Needs attention<small>{len(bad)} check(s)</small></h2><table><thead><tr>'
            f"<th>State</th><th>Subject</th><th>Check</th><th>Finding</th><th>Since</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{more}</section>")


def render(stack_name: str, targets: Targets, history: History, now: Optional[_dt.datetime] = None) -> str:
    """The whole page as one HTML document."""
    now = now or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    states = history.current()
    by_subject: dict[str, list[State]] = {}
    for s in states:
        by_subject.setdefault(s.observation.subject, []).append(s)
    totals = {k: 0 for k in (FAIL, WARN, UNKNOWN, OK)}
    for s in states:
        if s.observation.status in totals:
            totals[s.observation.status] += 1
    badges = "".join(f'<span class="total {k}" data-total="{k}">{n} {_WORDS[k]}</span>' for k, n in totals.items())
    ip_rows = [(ip.subject, ip.address or "address unknown", f"{ip.label} · {ip.ptr_name} · "
                f"{len(ip.domains)} domain{'s' * (len(ip.domains) != 1)}") for ip in targets.ips]
    domain_rows = [(d.subject, d.domain.unicode_name, f"{d.ip.label} · {d.ip.address or 'IP unknown'}")
                   for d in targets.domains]
    server_rows = [(s.subject, s.hostname, s.name) for s in targets.servers]
    body = "".join([
        _attention(states, now),
        _grid("Sending IPs", "worst state per column, since when it holds", ip_rows, IP_COLUMNS, by_subject, now, "ips"),
        _listings(states, now),
        _proposals(stack_name, targets, states),
        _grid("Domains", "", domain_rows, DOMAIN_COLUMNS, by_subject, now, "domains"),
        _grid("Servers", "", server_rows, SERVER_COLUMNS, by_subject, now, "servers"),
        _certificates(targets, states, now),
        _capabilities(states, now),
        _charts(targets, history, now),
    ])
    title = f"coldmail · {stack_name} · health"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>{_e(title)}</title><style>{CSS}</style></head>'
            f'<body><header><h1>{_e(title)}</h1><div class="totals">{badges}</div><div class="meta">generated '
            f'{_e(now.strftime("%Y-%m-%d %H:%M"))} UTC · {len(targets.ips)} IPs · {len(targets.domains)} domains'
            f"</div></header><main>{body}</main></body></html>")


def write(out_dir: str, page: str) -> str:
    """Write ``index.html`` into ``out_dir`` (created); returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "index.html")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, path)
    return path
