"""What the ``coldmail`` command prints: the JSON envelope and its schemas, logs, tables and progress.

stdout carries the result only (one JSON document under ``--json``, a human report otherwise); progress
and logs go to stderr and to a rotating log file under the project, so pipes and agents get clean data.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence, TextIO

from coldmail.errors import EXIT_BAD_INPUT, EXIT_CHANGES, EXIT_FAILED, EXIT_OK, ColdmailError
from coldmail.ops.project import private_dir

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_CHANGES", "ErrorEntry", "Outcome", "error_entries",
           "emit", "check_document", "check_schema", "table", "Progress", "LOG", "setup_logging", "close_logging"]

SCHEMA_VERSION = "coldmail.cli/v1"

LOG = logging.getLogger("coldmail")
LOG_FILE_MODE = 0o600


# --------------------------------------------------------------------------------------------
# JSON schemas, as data: docs/cli.md documents them and the tests validate every document
# --------------------------------------------------------------------------------------------

_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_NSTR = {"type": ["string", "null"]}


def _obj(props: Mapping[str, Any], required: Optional[Iterable[str]] = None, extra: bool = False) -> dict:
    return {"type": "object", "properties": dict(props),
            "required": list(props if required is None else required), "additionalProperties": extra}


def _list(items: Mapping[str, Any]) -> dict:
    return {"type": "array", "items": dict(items)}


ERROR = _obj({"kind": _STR, "message": _STR, "path": _NSTR, "fix": _NSTR})
CHANGES = {"type": "object", "additionalProperties": _INT}

RECORD = _obj({"type": _STR, "name": _STR, "zone": _STR, "value": _STR, "ttl": {"type": ["integer", "null"]},
               "priority": {"type": ["integer", "null"]}, "proxied": _BOOL, "pending": _BOOL, "note": _NSTR})
SENDING_IP = _obj({"index": _INT, "role": {"enum": ["primary", "floating"]}, "address": _NSTR,
                   "placeholder": _BOOL, "ptr": _STR, "domains": _list(_STR)})
SECRET_STATUS = _obj({"key": _STR, "status": {"enum": ["set", "plaintext", "not_set"]}, "command": _STR})

PLAN_SUMMARY = _obj({"servers": _INT, "sending_ips": _INT, "domains": _INT, "domains_configured": _INT,
                     "mailboxes": _INT, "dns_records": _INT,
                     "records_per_zone": {"type": "object", "additionalProperties": _INT},
                     "max_records_per_zone": _INT, "resources": _INT,
                     "secrets_missing": _INT, "errors": _INT, "warnings": _INT})

PLAN = _obj({
    "stack": _STR,
    "stack_file": _STR,
    "summary": PLAN_SUMMARY,
    "servers": _list(_obj({"name": _STR, "hostname": _STR, "location": _STR, "server_type": _STR,
                           "mailcow_url": _STR, "ipv6": _NSTR, "ips": _list(SENDING_IP),
                           "host_records": _list(RECORD)})),
    "domains": _list(_obj({"name": _STR, "unicode_name": _STR, "server": _STR, "ip_index": _INT,
                           "sending_ip": _NSTR, "helo": _STR, "dmarc_phase": _STR, "records": _list(RECORD),
                           "mailboxes": _list(_obj({"address": _STR, "name": _STR, "quota_mb": _INT}))})),
    "reports": _obj({"dmarc_rua": _STR, "dmarc_ruf": _NSTR, "tls_rpt_rua": _NSTR, "mailboxes": _list(_STR),
                     "server": _NSTR, "records": _list(RECORD)}),
    "resource_counts": {"type": "object", "additionalProperties": _INT},
    "resources_total": _INT,
    "secrets": _list(SECRET_STATUS),
})

OPERATION = _obj({"operation": {"enum": ["preview", "up", "destroy", "refresh"]}, "changes": CHANGES,
                  "has_changes": _BOOL, "applied": _BOOL, "duration_seconds": {"type": ["number", "null"]},
                  "failed_resources": _list(_STR), "next_steps": _list(_STR)})

CONFIG_OP = _obj({"action": {"enum": ["set", "remove"]}, "path": _STR, "value": _NSTR, "secret": _BOOL})
CONFIG_EDIT = _obj({"edit": _STR, "target": _list(_STR), "operations": _list(CONFIG_OP),
                    "preview": {"type": ["object", "null"]}, "applied": _BOOL, "written": _BOOL,
                    "apply_command": _NSTR})

STACK_INIT = _obj({"stack": _STR, "created": _BOOL, "backend": _STR, "secrets_provider": _STR, "stack_file": _STR,
                   "stack_file_exists": _BOOL})

CREDENTIALS_EXPORT = _obj({"file": _STR, "format": {"enum": ["csv", "json"]}, "mode": _STR, "count": _INT,
                           "columns": _list(_STR),
                           "accounts": _list(_obj({"email": _STR, "smtp_host": _STR, "daily_limit": _INT},
                                                  extra=True))})

STATUS = _obj({"outputs": {"type": "object"}, "servers": {"type": ["object", "null"]},
               "mailboxes": _INT, "checks": {"type": ["object", "null"]}})

_NUM = {"type": "number"}
_NNUM = {"type": ["number", "null"]}
_KINDS = _obj({"aggregate": _INT, "failure": _INT, "smtp_tls": _INT})

REPORTS_FETCH = _obj({
    "mailboxes": _list(_obj({"mailbox": _STR, "address": _NSTR, "messages": _INT, "new": _KINDS, "duplicates": _INT,
                             "skipped": _list(_obj({"uid": _INT, "subject": _STR, "reason": _STR}))})),
    "new": _KINDS, "duplicates": _INT, "skipped": _INT, "stack_ips": {"type": ["integer", "null"]}, "history": _STR,
    "changes": _list(_obj({"check": _STR, "subject": _STR, "previous": _NSTR, "status": _STR, "summary": _STR})),
})

DMARC_EVIDENCE = _obj({"domain": _STR, "phase": {"enum": ["none", "quarantine", "reject"]},
                       "next_phase": {"enum": ["quarantine", "reject", None]}, "ready": _BOOL, "days_at_phase": _NUM,
                       "messages": _INT, "aligned_pass_rate": _NNUM,
                       "unknown_failing_sources": _list(_obj({"ip": _STR, "failed_messages": _INT})),
                       "reasons": _list(_STR), "window_start": _NSTR, "window_end": _NSTR})

REPORT_SOURCE = _obj({"ip": _STR, "kind": {"enum": ["stack", "known", "unknown"]}, "label": _NSTR, "name": _NSTR,
                      "country": _NSTR, "messages": _INT, "dmarc_pass": _INT, "spf_aligned": _INT,
                      "dkim_aligned": _INT})

REPORTS_SUMMARY = _obj({
    "since": _STR, "until": _STR, "history": _STR,
    "stack_ips": _list(_obj({"address": _STR, "label": _STR})), "known_sources": _list(_STR),
    "thresholds": _obj({"evidence_days": _INT, "min_aligned_pass": _NUM, "min_messages": _INT,
                        "max_unknown_failing_sources": _INT}),
    "stored": _KINDS,
    "domains": _list(_obj({
        "domain": _STR, "in_stack": _BOOL, "dmarc_phase": _NSTR, "reports": _INT, "reporters": _list(_STR),
        "messages": _INT, "spf_aligned_rate": _NNUM, "dkim_aligned_rate": _NNUM, "dmarc_pass_rate": _NNUM,
        "sources": _list(REPORT_SOURCE), "unknown_sources": _list(_STR),
        "tls": _obj({"successful_sessions": _INT, "failed_sessions": _INT,
                     "failures_by_type": {"type": "object", "additionalProperties": _INT}}),
        "failure_reports": _INT, "next_phase": dict(DMARC_EVIDENCE, type=["object", "null"])})),
})

DMARC_ADVANCE = _obj(dict(CONFIG_EDIT["properties"], evidence=DMARC_EVIDENCE, forced=_BOOL))

KEPT_DATA = _obj({"server": _STR, "point": _STR, "server_path": _STR, "offsite": _BOOL, "local_path": _NSTR})
DESTROY = _obj({**OPERATION["properties"], "kept_data": {"type": ["array", "null"], "items": KEPT_DATA}},
               required=OPERATION["required"])

HEALTH = _list(_obj({"check": _STR, "subject": _STR, "status": _STR, "summary": _STR, "value": _NNUM}))
ALERTS = _obj({"changes": _list(_obj({"check": _STR, "subject": _STR, "previous": _NSTR, "status": _STR,
                                      "summary": _STR})),
               "notified": _BOOL})
BACKUP_RUN = _obj({"status": {"enum": ["ok", "failed"]}, "point": _NSTR, "message": _STR,
                   "offsite": {"enum": ["ok", "failed", "off"]}, "started_at": _NSTR, "finished_at": _NSTR})
BACKUP_LISTING = _obj({"server": _STR, "location": _STR, "delete_days": _INT, "offsite": _BOOL,
                       "points": _list(_obj({"name": _STR, "parts": _list(_STR), "created_at": _STR,
                                             "size_bytes": _INT, "config_export": _BOOL})),
                       "latest": _NSTR, "latest_age_hours": _NNUM,
                       "last_run": {"type": ["object", "null"], **{k: v for k, v in BACKUP_RUN.items() if k != "type"}}})
BACKUP_LIST = _obj({"servers": _list(BACKUP_LISTING), "health": HEALTH, "alerts": ALERTS})
BACKUP_NOW = _obj({"servers": _list(_obj({"server": _STR, "run": BACKUP_RUN, "location": _STR, "path": _NSTR})),
                   "health": HEALTH, "alerts": ALERTS})
BACKUP_RESTORE = _obj({"server": _STR, "point": _STR, "restored": _list(_STR)})

SERVER_RESTART = _obj({"server": _STR, "services": _list(_STR)})
SERVER_LOGS = _obj({"server": _STR, "service": _STR, "since": _NSTR, "count": _INT,
                    "lines": _list(_obj({"container": _STR, "time": _NSTR, "message": _STR}))})
SERVER_QUEUE = _obj({
    "server": _STR,
    "summary": _obj({"total": _INT, "by_queue": {"type": "object", "additionalProperties": _INT},
                     "deferred_by_reason": _list(_obj({"reason": _STR, "recipients": _INT})),
                     "deferred_by_destination": _list(_obj({"domain": _STR, "recipients": _INT}))}),
    "messages": _list(_obj({"queue_id": _STR, "queue_name": _STR, "arrival_time": _NSTR,
                            "size": {"type": ["integer", "null"]}, "sender": _STR,
                            "recipients": _list(_obj({"address": _STR, "delay_reason": _NSTR}))})),
    "action": _obj({"flushed": _NSTR, "deleted": _NSTR, "found": {"type": ["boolean", "null"]}}),
})

SUPPRESSION_ENTRY = _obj({"email": _STR, "type": {"enum": ["hard", "complaint", "manual"]}, "reason": _STR,
                          "sending_domain": _STR, "source": _STR, "first_seen": _STR, "last_seen": _STR,
                          "count": _INT})
SUPPRESSION_LIST = _obj({"domain": _NSTR, "count": _INT, "entries": _list(SUPPRESSION_ENTRY)})
SUPPRESSION_ADD = _obj({"domain": _STR, "added": _list(_STR), "already": _list(_STR)})
SUPPRESSION_EXPORT = _obj({"file": _STR, "format": {"enum": ["csv"]}, "mode": _STR, "domain": _NSTR, "count": _INT,
                           "columns": _list(_STR)})
SUPPRESSION_SCAN = _obj({
    "since": _STR, "window_days": _INT,
    "scanned": _obj({"servers": _list(_STR), "log_lines": _INT, "deliveries": _INT, "mailboxes": _INT}),
    "new": _obj({"sends": _INT, "hard": _INT, "soft": _INT, "complaints": _INT, "reports": _INT}),
    "suppressed": _INT,
    "flagged": _list(_obj({"check": _STR, "subject": _STR, "value": _NNUM, "summary": _STR})),
    "alerts": ALERTS,
})

_NINT = {"type": ["integer", "null"]}
RAMP_DAY = _obj({"date": _STR, "ramp_day": _NINT, "step": _INT, "ip_cap": _INT, "mailbox_cap": _INT, "held": _BOOL})
IP_RAMP = {"ip": _STR, "address": _NSTR, "server": _STR, "index": _INT, "ptr": _STR, "start": _STR,
           **RAMP_DAY["properties"], "hold_reasons": _list(_STR), "mailboxes": _list(_STR)}
PLACED = _obj({"inbox": _INT, "spam": _INT, "promotions": _INT})
WARMUP_COUNTS = {"sent": _INT, "received": _INT, "replied": _INT, "placement": PLACED}

WARMUP_SCHEDULE = _obj({
    "weeks": _INT, "start_date": _NSTR,
    "plan": _obj({"start_per_ip_per_day": _INT, "growth_factor": _NUM, "period_days": _INT,
                  "max_per_ip_per_day": _INT, "max_per_mailbox_per_day": _INT}),
    "ips": _list(_obj({"ip": _STR, "server": _STR, "index": _INT, "ptr": _STR, "start": _STR,
                       "held_days": _list(_STR), "hold_reasons": _list(_STR), "mailboxes": _list(_STR),
                       "days": _list(RAMP_DAY)})),
})
WARMUP_STATUS = _obj({
    "at": _STR, "start_date": _NSTR, "placement_days": _INT,
    "ips": _list(_obj({**IP_RAMP, **WARMUP_COUNTS})),
    "mailboxes": _list(_obj({"address": _STR, "ip": _STR, "day": _STR, "cap": _INT, **WARMUP_COUNTS})),
    "seeds": _list(_obj({"address": _STR, "provider": _STR, "day": _STR, "cap": _INT, **WARMUP_COUNTS})),
})
WARMUP_RUN = _obj({
    "at": _STR, "ips": _list(_obj(IP_RAMP)),
    "rate_limits": _list(_obj({"server": _STR, "checked": _INT, "error": _NSTR,
                               "changed": _list(_obj({"mailbox": _STR, "from": _NSTR, "to": _STR}))})),
    "sent": _INT, "refused": _INT, "uncertain": _INT, "received": _INT, "rescued": _INT, "replied": _INT,
    "errors": _list(_STR),
})
PLACEMENT_ROW = {"probes": _INT, "inbox_share": _NUM, "status": {"enum": ["ok", "warn", "fail"]},
                 "providers": {"type": "object", "additionalProperties": _obj(
                     {"inbox": _INT, "spam": _INT, "promotions": _INT, "missing": _INT})}}
WARMUP_PLACEMENT = _obj({
    "batch": _STR, "sent": _INT, "missing": _INT, "errors": _list(_STR),
    "probes": _list(_obj({"sender": _STR, "ip": _STR, "seed": _STR, "provider": _STR,
                          "placement": {"enum": ["inbox", "spam", "promotions", "missing"]}, "folder": _NSTR})),
    "ips": _list(_obj({"ip": _STR, "address": _NSTR, **PLACEMENT_ROW})),
    "domains": _list(_obj({"domain": _STR, **PLACEMENT_ROW})),
    "skipped": _list(_obj({"domain": _STR, "ip": _STR, "seed": _NSTR, "reason": _STR})),
})

_STATUS = {"enum": ["ok", "warn", "fail", "unknown", "info"]}
OBSERVATION = _obj({"check": _STR, "subject": _STR, "status": _STATUS, "summary": _STR, "source": _STR,
                    "value": _NNUM, "data": {"type": "object"}, "at": _NSTR})
CHECK_CHANGE = _obj({**OBSERVATION["properties"], "previous": {"type": ["string", "null"]}})
MOVE = _obj({"domain": _STR, "to_index": _INT, "to_address": _NSTR, "command": _STR})
PROPOSAL = _obj({"ip": _NSTR, "label": _STR, "lists": _list(_STR), "domains": _list(_STR), "note": _STR,
                 "moves": _list(MOVE)})
STATUS_COUNTS = _obj({k: _INT for k in ("ok", "warn", "fail", "unknown", "info")})
CHECK_RUN = _obj({
    "stack": _STR, "kinds": _list({"enum": ["dns", "auth", "blacklist", "smtp", "postmaster"]}), "at": _STR,
    "status": _STATUS, "counts": STATUS_COUNTS, "observations": _list(OBSERVATION), "changes": _list(CHECK_CHANGE),
    "proposals": _list(PROPOSAL),
    "alert": {"type": ["object", "null"], "properties": {"sent": _BOOL, "attempts": _INT, "targets": _INT},
              "required": ["sent", "attempts", "targets"], "additionalProperties": False},
    "sources": _obj({"config": _STR, "outputs": _STR}), "history": _STR, "latest": _STR,
})
CHECK_HISTORY = _obj({
    "since": _STR, "until": _STR, "runs": _INT, "observations": _INT,
    "families": {"type": "object", "additionalProperties": STATUS_COUNTS},
    "changes": _list(_obj({"at": _NSTR, "check": _STR, "subject": _STR, "from": _STATUS, "to": _STATUS,
                           "summary": _STR})),
    "problems": _list(_obj({"check": _STR, "subject": _STR, "status": _STATUS, "since": _STR, "summary": _STR})),
    "history": _STR,
})
STATUS_PAGE = _obj({"file": _STR, "bytes": _INT, "states": _INT, "subjects": _INT, "history": _STR})
AGENT_RUN = _obj({
    "server": _STR, "history": _STR, "site": _STR,
    "runs": _list(_obj({"job": _STR, "at": _STR, "ok": _BOOL, "error": _NSTR, "result": {}})),
    "jobs": _list(_obj({"job": _STR, "every_seconds": _INT, "last_run": _NSTR})),
})

RESULT_SCHEMAS: dict[str, dict] = {
    "stack init": STACK_INIT,
    "plan": PLAN,
    "preview": OPERATION, "up": OPERATION, "destroy": DESTROY, "refresh": OPERATION,
    "domain add": CONFIG_EDIT, "domain remove": CONFIG_EDIT, "mailbox add": CONFIG_EDIT,
    "mailbox remove": CONFIG_EDIT, "server add": CONFIG_EDIT, "server remove": CONFIG_EDIT,
    "credentials export": CREDENTIALS_EXPORT,
    "status": STATUS,
    "reports fetch": REPORTS_FETCH, "reports summary": REPORTS_SUMMARY, "dmarc advance": DMARC_ADVANCE,
    "backup now": BACKUP_NOW, "backup list": BACKUP_LIST, "backup restore": BACKUP_RESTORE,
    "server restart": SERVER_RESTART, "server logs": SERVER_LOGS, "server queue": SERVER_QUEUE,
    "suppression scan": SUPPRESSION_SCAN, "suppression list": SUPPRESSION_LIST, "suppression add": SUPPRESSION_ADD,
    "suppression export": SUPPRESSION_EXPORT,
    "warmup schedule": WARMUP_SCHEDULE, "warmup status": WARMUP_STATUS, "warmup run": WARMUP_RUN,
    "warmup placement": WARMUP_PLACEMENT,
    "domain move": CONFIG_EDIT,
    "check": CHECK_RUN,
    "check history": CHECK_HISTORY,
    "status-page": STATUS_PAGE,
    "agent run": AGENT_RUN,
    "mcp": _obj({"allow_apply": _BOOL, "tool_calls": _INT}),
}

ENVELOPE = _obj({
    "schema": {"enum": [SCHEMA_VERSION]},
    "command": _STR,
    "ok": _BOOL,
    "exit_code": {"enum": [EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CHANGES]},
    "stack": _NSTR,
    "result": {"type": ["object", "null"]},
    "errors": _list(ERROR),
    "warnings": _list(_STR),
})

_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
          "array": list, "null": type(None)}


def check_schema(doc: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Every way ``doc`` departs from ``schema`` (a small JSON-Schema subset: type, enum, properties,
    required, additionalProperties, items), as ``path: problem`` strings; empty when it conforms."""
    problems: list[str] = []
    if "enum" in schema and doc not in schema["enum"]:
        problems.append(f"{path}: {doc!r} is not one of {schema['enum']}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(doc, _TYPES[t]) and not (t in ("integer", "number") and isinstance(doc, bool))
                 for t in types)
        if not ok:
            return problems + [f"{path}: expected {'/'.join(types)}, got {type(doc).__name__}"]
    if isinstance(doc, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in doc:
                problems.append(f"{path}: missing {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, value in doc.items():
            if key in props:
                problems += check_schema(value, props[key], f"{path}.{key}")
            elif extra is False:
                problems.append(f"{path}: unexpected key {key!r}")
            elif isinstance(extra, Mapping):
                problems += check_schema(value, extra, f"{path}.{key}")
    if isinstance(doc, list) and "items" in schema:
        for i, item in enumerate(doc):
            problems += check_schema(item, schema["items"], f"{path}[{i}]")
    return problems


def check_document(doc: Mapping[str, Any]) -> list[str]:
    """Validate a whole ``--json`` document: the envelope, then the command's result schema."""
    problems = check_schema(doc, ENVELOPE)
    result = doc.get("result") if isinstance(doc, Mapping) else None
    schema = RESULT_SCHEMAS.get(str(doc.get("command"))) if isinstance(doc, Mapping) else None
    if result is not None and schema is not None:
        problems += check_schema(result, schema, "$.result")
    return problems


# --------------------------------------------------------------------------------------------
# The envelope
# --------------------------------------------------------------------------------------------

@dataclass
class ErrorEntry:
    """One entry of the envelope's ``errors`` list."""

    kind: str
    message: str
    path: Optional[str] = None
    fix: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "path": self.path, "fix": self.fix}

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        fix = f"\n    fix: {self.fix}" if self.fix else ""
        return f"{where}{self.message}{fix}"


def error_entries(exc: BaseException) -> list[ErrorEntry]:
    """The envelope's errors for an exception: one per config issue, else one; the only such conversion."""
    issues = getattr(exc, "issues", None)
    if isinstance(exc, ColdmailError) and issues:
        return [ErrorEntry(exc.kind, i.message, i.path, i.fix) for i in issues]
    if isinstance(exc, ColdmailError):
        return [ErrorEntry(exc.kind, exc.message, exc.path, exc.fix)]
    return [ErrorEntry("internal", f"{type(exc).__name__}: {exc}",
                       fix="see .coldmail/logs/coldmail.log; please report it")]


def exit_code_of(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, ColdmailError) else EXIT_FAILED


@dataclass
class Outcome:
    """What a command hands back to ``main``: its exit code, result document and human report."""

    command: str
    exit_code: int = EXIT_OK
    result: Optional[dict[str, Any]] = None
    errors: list[ErrorEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    text: str = ""
    stack: Optional[str] = None
    errors_in_text: bool = False
    """The human report already lists the errors (``plan``), so they are not repeated on stderr."""

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def fail(self, exc: BaseException) -> "Outcome":
        """Record ``exc`` as this outcome's errors and exit code; returns the outcome."""
        self.exit_code = exit_code_of(exc)
        self.errors += error_entries(exc)
        return self

    def document(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "command": self.command, "ok": self.ok, "exit_code": self.exit_code,
                "stack": self.stack, "result": self.result, "errors": [e.to_dict() for e in self.errors],
                "warnings": list(self.warnings)}


def emit(outcome: Outcome, as_json: bool, stdout: TextIO, stderr: TextIO) -> None:
    if as_json:
        stdout.write(json.dumps(outcome.document(), indent=2, sort_keys=False, ensure_ascii=False) + "\n")
        return
    if outcome.text:
        stdout.write(outcome.text.rstrip("\n") + "\n")
    for w in outcome.warnings:
        stderr.write(f"warning: {w}\n")
    if outcome.errors and not outcome.errors_in_text:
        stderr.write(f"{len(outcome.errors)} error(s):\n")
        for e in outcome.errors:
            stderr.write("  - " + str(e).replace("\n", "\n  ") + "\n")


# --------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------

class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file, the rotated ones included, is readable by its owner only."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, LOG_FILE_MODE)
        os.fchmod(fd, LOG_FILE_MODE)  # a log from an older coldmail may be 0644
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(project_dir: Optional[str], stderr: TextIO, verbose: bool = False) -> Optional[str]:
    """Log to stderr and to ``.coldmail/logs/coldmail.log`` (rotating, 0600 in a 0700 directory)."""
    LOG.setLevel(logging.DEBUG)
    LOG.propagate = False
    for h in list(LOG.handlers):
        LOG.removeHandler(h)
        h.close()
    console = logging.StreamHandler(stderr)
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(logging.Formatter("%(message)s"))
    LOG.addHandler(console)
    if not project_dir:
        return None
    try:
        path = os.path.join(private_dir(project_dir, "logs"), "coldmail.log")
        fh = _PrivateRotatingFileHandler(path, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
    except OSError as exc:
        LOG.warning("cannot write the log file under %s: %s", os.path.join(project_dir, ".coldmail"), exc)
        return None
    fh.setLevel(logging.DEBUG)
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    LOG.addHandler(fh)
    return path


def close_logging() -> None:
    for h in list(LOG.handlers):
        LOG.removeHandler(h)
        h.close()


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "") -> str:
    rows = [["" if c is None else str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    line = lambda cells: indent + "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


# --------------------------------------------------------------------------------------------
# Progress from engine events
# --------------------------------------------------------------------------------------------

class Progress:
    """An ``on_event`` callback: resources done / total and the current step, on stderr.

    ``total`` is known when a preview ran first; otherwise it grows with the steps the engine announces.
    Lines (not a redrawn bar) so logs, CI and agents read it too.
    """

    def __init__(self, stream: TextIO = sys.stderr, total: Optional[int] = None, operation: str = "up") -> None:
        self.stream, self.total, self.operation = stream, total, operation
        self.started: set[str] = set()
        self.done: set[str] = set()
        self.failed: list[str] = []
        self.changes: dict[str, int] = {}
        self.summary: Optional[dict[str, int]] = None
        self.diagnostics: list[str] = []
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    def _count(self) -> str:
        total = self.total if self.total is not None else len(self.started)
        return f"[{len(self.done)}/{max(total, len(self.started))}]"

    @staticmethod
    def _short(urn: str) -> str:
        return urn.rsplit("::", 1)[-1] if urn else "?"

    def __call__(self, event: Any) -> None:
        with self._lock:
            pre = getattr(event, "resource_pre_event", None)
            out = getattr(event, "res_outputs_event", None)
            fail = getattr(event, "res_op_failed_event", None)
            diag = getattr(event, "diagnostic_event", None)
            summ = getattr(event, "summary_event", None)
            if pre is not None:
                md = pre.metadata
                self.started.add(md.urn)
                op = getattr(md.op, "value", str(md.op))
                if op != "same":
                    self.changes[op] = self.changes.get(op, 0) + 1
                    self._line(f"{op:<8} {md.type} {self._short(md.urn)}")
            elif out is not None:
                md = out.metadata
                self.done.add(md.urn)
                op = getattr(md.op, "value", str(md.op))
                if op != "same":
                    self._line(f"done     {md.type} {self._short(md.urn)}")
            elif fail is not None:
                self.failed.append(fail.metadata.urn)
                self._line(f"FAILED   {fail.metadata.type} {self._short(fail.metadata.urn)}")
            elif diag is not None and getattr(diag, "severity", "") in ("error", "warning"):
                msg = (diag.message or "").strip()
                if msg:
                    self.diagnostics.append(msg)
                    self.stream.write(f"{diag.severity}: {msg}\n")
            elif summ is not None:
                self.summary = dict(summ.resource_changes or {})
            self.stream.flush()

    def _line(self, text: str) -> None:
        elapsed = time.monotonic() - self._t0
        self.stream.write(f"{self.operation} {self._count()} {elapsed:5.1f}s {text}\n")
