"""Report messages to typed reports: DMARC aggregate (RFC 7489), DMARC failure (RFC 6591) and SMTP TLS (RFC 8460).

parsedmarc reads the message whatever the receiver's packaging: XML in a zip (Google), in a gzip
(Microsoft, Yahoo) or plain, TLS-RPT JSON as ``application/tlsrpt+gzip`` or ``+json``, ARF failure reports.
It runs offline: no DNS lookup and no download, so a fetch never leaks which reports arrived; the
country and network name of a source come from parsedmarc's bundled IP database.
"""

from __future__ import annotations

import datetime as _dt
import email
import email.policy
import email.utils
import hashlib
from dataclasses import dataclass
from typing import Any, Optional, Union

from coldmail.model.names import normalise_domain

from .errors import NotAReport

UTC = _dt.timezone.utc
AGGREGATE, FAILURE, SMTP_TLS = "aggregate", "failure", "smtp_tls"
KINDS = (AGGREGATE, FAILURE, SMTP_TLS)


@dataclass(frozen=True)
class AggregateRow:
    """One ``<record>``: ``count`` messages from one source with the same results."""

    source_ip: str
    count: int
    spf_aligned: bool
    """SPF passed for a domain aligned with ``From:`` (the report's ``policy_evaluated/spf``)."""
    dkim_aligned: bool
    """A DKIM signature of a domain aligned with ``From:`` verified (``policy_evaluated/dkim``)."""
    disposition: str
    header_from: str
    envelope_from: Optional[str]
    begin: _dt.datetime
    end: _dt.datetime
    source_name: Optional[str] = None
    country: Optional[str] = None

    @property
    def dmarc_pass(self) -> bool:
        return self.spf_aligned or self.dkim_aligned


@dataclass(frozen=True)
class AggregateReport:
    org: str
    report_id: str
    org_email: str
    domain: str
    policy: str
    """The ``p=`` the receiver saw published while the report ran: the phase the evidence is for."""
    begin: _dt.datetime
    end: _dt.datetime
    rows: tuple[AggregateRow, ...]
    kind = AGGREGATE

    @property
    def key(self) -> tuple[str, str]:
        return (self.org, self.report_id)


@dataclass(frozen=True)
class TlsFailure:
    result_type: str
    sessions: int
    sending_mta_ip: Optional[str] = None
    receiving_mx_hostname: Optional[str] = None
    receiving_ip: Optional[str] = None
    reason_code: Optional[str] = None


@dataclass(frozen=True)
class TlsPolicy:
    domain: str
    policy_type: str
    """``sts``, ``tlsa`` or ``no-policy-found``."""
    successful: int
    failed: int
    failures: tuple[TlsFailure, ...] = ()


@dataclass(frozen=True)
class TlsReport:
    org: str
    report_id: str
    begin: _dt.datetime
    end: _dt.datetime
    policies: tuple[TlsPolicy, ...]
    kind = SMTP_TLS

    @property
    def key(self) -> tuple[str, str]:
        return (self.org, self.report_id)


@dataclass(frozen=True)
class FailureReport:
    """One message that failed DMARC, as a receiver reported it (no report id: the key is a digest)."""

    org: str
    domain: str
    arrival: _dt.datetime
    source_ip: str
    auth_failure: tuple[str, ...]
    delivery_result: Optional[str]
    message_id: Optional[str]
    original_mail_from: Optional[str]
    original_rcpt_to: Optional[str]
    kind = FAILURE

    @property
    def key(self) -> tuple[str, str]:
        digest = hashlib.sha256("\n".join(
            [self.domain, self.arrival.isoformat(), self.source_ip, self.message_id or "",
             self.original_mail_from or "", self.original_rcpt_to or ""]).encode()).hexdigest()[:32]
        return (self.org, digest)


Report = Union[AggregateReport, TlsReport, FailureReport]


def domain_name(name: Any) -> str:
    """A reported domain in the punycode form the stack config uses; as reported (lowercase) otherwise."""
    text = str(name or "").strip().rstrip(".").lower()
    try:
        return normalise_domain(text)
    except ValueError:
        return text


def _utc(text: str) -> _dt.datetime:
    """parsedmarc's ``YYYY-MM-DD HH:MM:SS`` strings that it already converted to UTC."""
    return _dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _local(text: str) -> _dt.datetime:
    """parsedmarc's report ``begin_date``/``end_date``: the epoch rendered in this machine's local time."""
    return _dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").astimezone(UTC)


def _iso(text: str) -> _dt.datetime:
    t = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def _aggregate(r: dict[str, Any]) -> AggregateReport:
    meta, policy = r["report_metadata"], r["policy_published"]
    rows = []
    for rec in r["records"]:
        source, evaluated, ids = rec["source"], rec["policy_evaluated"], rec["identifiers"]
        rows.append(AggregateRow(
            source_ip=str(source["ip_address"]), count=int(rec["count"]),
            spf_aligned=bool(rec["alignment"]["spf"]), dkim_aligned=bool(rec["alignment"]["dkim"]),
            disposition=str(evaluated.get("disposition") or "none"),
            header_from=domain_name(ids.get("header_from")), envelope_from=ids.get("envelope_from"),
            begin=_utc(rec["interval_begin"]), end=_utc(rec["interval_end"]),
            source_name=source.get("name") or source.get("as_name"), country=source.get("country")))
    return AggregateReport(
        org=str(meta["org_name"]).lower(), report_id=str(meta["report_id"]), org_email=str(meta.get("org_email") or ""),
        domain=domain_name(policy["domain"]), policy=str(policy.get("p") or "none").lower(),
        begin=_local(meta["begin_date"]), end=_local(meta["end_date"]), rows=tuple(rows))


def _tls(r: dict[str, Any]) -> TlsReport:
    policies = []
    for p in r["policies"]:
        failures = tuple(TlsFailure(
            result_type=str(f["result_type"]), sessions=int(f["failed_session_count"]),
            sending_mta_ip=f.get("sending_mta_ip"), receiving_mx_hostname=f.get("receiving_mx_hostname"),
            receiving_ip=f.get("receiving_ip"), reason_code=f.get("failure_reason_code"))
            for f in p.get("failure_details") or [])
        policies.append(TlsPolicy(domain=domain_name(p["policy_domain"]), policy_type=str(p["policy_type"]),
                                  successful=int(p["successful_session_count"]),
                                  failed=int(p["failed_session_count"]), failures=failures))
    return TlsReport(org=str(r["organization_name"]).lower(), report_id=str(r["report_id"]),
                     begin=_iso(r["begin_date"]), end=_iso(r["end_date"]), policies=tuple(policies))


def _failure(r: dict[str, Any], sender: str) -> FailureReport:
    return FailureReport(
        org=sender, domain=domain_name(r["reported_domain"]), arrival=_utc(r["arrival_date_utc"]),
        source_ip=str((r.get("source") or {}).get("ip_address") or ""),
        auth_failure=tuple(str(a) for a in r.get("auth_failure") or ()),
        delivery_result=r.get("delivery_result"), message_id=r.get("message_id"),
        original_mail_from=r.get("original_mail_from"), original_rcpt_to=r.get("original_rcpt_to"))


def _sender_domain(raw: bytes) -> str:
    """The domain of the report message's ``From:``: who reported a failure (ARF names no organisation)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return email.utils.parseaddr(str(msg.get("From") or ""))[1].rpartition("@")[2].lower() or "unknown"


class Parser:
    """One fetch run's parser: parsedmarc with its own caches (so nothing is shared across runs) and offline."""

    def __init__(self) -> None:
        # parsedmarc takes seconds to import: only a fetch pays for it.
        import parsedmarc
        from parsedmarc.config import ParserConfig

        self._parsedmarc = parsedmarc
        self._config = ParserConfig(offline=True, always_use_local_files=True)

    def parse(self, raw: bytes) -> Report:
        """The report in one message.

        :raises NotAReport: the message holds no report (its reason says why parsedmarc refused it).
        """
        try:
            parsed = self._parsedmarc.parse_report_email(raw, config=self._config)
        except self._parsedmarc.ParserError as exc:
            raise NotAReport(str(exc).splitlines()[0][:300], "nothing to do: the message stays in the mailbox") from None
        kind, report = parsed["report_type"], dict(parsed["report"])
        try:
            if kind == AGGREGATE:
                return _aggregate(report)
            if kind == SMTP_TLS:
                return _tls(report)
            return _failure(report, _sender_domain(raw))
        except (KeyError, TypeError, ValueError) as exc:
            raise NotAReport(f"a {kind} report with a missing or malformed field: {type(exc).__name__}: {exc}",
                             "nothing to do: the message stays in the mailbox") from None
