"""Report messages built the way the big receivers send them, for delivery into a real mailbox.

What each builder copies from real reports (parsedmarc's and dmarc-report-viewer's sample reports,
RFC 7489 §7.2.1.1 and RFC 8460 §5.3 for file names):

- Google aggregate: From ``noreply-dmarc-support@google.com``, Subject ``Report domain: D Submitter:
  google.com Report-ID: N``, an empty ``text/plain`` part, then the XML zipped as
  ``application/zip; name="google.com!D!BEGIN!END.zip"`` (base64 in 76-column lines), the XML named
  ``google.com!D!BEGIN!END.xml`` inside; ``org_name`` google.com, ``extra_contact_info``, ``np``.
- Microsoft aggregate: From ``dmarcreport@microsoft.com``, ``org_name`` Outlook.com, XML with the
  ``xsd``/``xsi`` namespaces, ``<version>1.0</version>`` and ``envelope_to``, gzipped as
  ``application/gzip; name="protection.outlook.com!D!BEGIN!END.xml.gz"``, the period ending at the next
  midnight, and the base64 on one single line (Microsoft does not fold it).
- Yahoo aggregate: From ``noreply@dmarc.yahoo.com``, ``org_name`` Yahoo, ``dmarchelp@yahooinc.com``,
  report ids like ``1709600619.487850``, gzipped as ``yahoo.com!D!BEGIN!END.xml.gz``.
- TLS-RPT (Google, Microsoft): ``multipart/report; report-type=tlsrpt`` with ``TLS-Report-Domain`` and
  ``TLS-Report-Submitter`` headers, the JSON gzipped as ``application/tlsrpt+gzip`` named
  ``SUBMITTER!D!BEGIN!END[!ID].json.gz``.
- Smaller receivers: the XML uncompressed as ``text/xml``, TLS-RPT JSON uncompressed as
  ``application/tlsrpt+json`` (RFC 8460 allows both).
- Failure report: ARF (RFC 6591) as LinkedIn sends it: ``multipart/report; report-type=feedback-report``,
  a ``message/feedback-report`` part and the failed message's headers.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import textwrap
import zipfile
from dataclasses import dataclass
from typing import Optional, Sequence

UTC = dt.timezone.utc

#: The sending IPs of a one-server stack with three floating IPs, as ``stack_ips_from_outputs`` labels them.
STACK_IPS = {"203.0.113.10": "mx1/ip0 mx1.acme-mailops.com", "203.0.113.11": "mx1/ip1 mx1-ip1.acme-mailops.com",
             "203.0.113.12": "mx1/ip2 mx1-ip2.acme-mailops.com", "203.0.113.13": "mx1/ip3 mx1-ip3.acme-mailops.com"}


@dataclass(frozen=True)
class Rec:
    """One ``<record>`` of an aggregate report."""

    ip: str
    count: int
    dkim: str = "pass"
    spf: str = "pass"
    disposition: str = "none"
    header_from: Optional[str] = None
    envelope_from: Optional[str] = None


def day(date: dt.date) -> tuple[int, int]:
    """``(begin, end)`` epochs of a day as Google and Yahoo write them (end at 23:59:59)."""
    begin = int(dt.datetime(date.year, date.month, date.day, tzinfo=UTC).timestamp())
    return begin, begin + 86399


def _records(domain: str, records: Sequence[Rec], envelope_to: Optional[str], selector: str) -> str:
    out = []
    for r in records:
        hf = r.header_from or domain
        ef = r.envelope_from or hf
        to = f"\n      <envelope_to>{envelope_to}</envelope_to>" if envelope_to else ""
        dkim_auth = (f"\n      <dkim>\n        <domain>{hf}</domain>\n        <selector>{selector}</selector>\n"
                     f"        <result>{r.dkim}</result>\n      </dkim>") if r.dkim == "pass" else ""
        out.append(f"""  <record>
    <row>
      <source_ip>{r.ip}</source_ip>
      <count>{r.count}</count>
      <policy_evaluated>
        <disposition>{r.disposition}</disposition>
        <dkim>{r.dkim}</dkim>
        <spf>{r.spf}</spf>
      </policy_evaluated>
    </row>
    <identifiers>{to}
      <envelope_from>{ef}</envelope_from>
      <header_from>{hf}</header_from>
    </identifiers>
    <auth_results>{dkim_auth}
      <spf>
        <domain>{ef}</domain>
        <scope>mfrom</scope>
        <result>{r.spf}</result>
      </spf>
    </auth_results>
  </record>""")
    return "\n".join(out)


def _feedback(opening: str, metadata: str, report_id: str, begin: int, end: int, domain: str, policy: str,
              records: str) -> str:
    """The aggregate XML every receiver writes, with its own opening, contact lines and policy lines."""
    return f"""{opening}
  <report_metadata>
{metadata}
    <report_id>{report_id}</report_id>
    <date_range>
      <begin>{begin}</begin>
      <end>{end}</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
{policy}
  </policy_published>
{records}
</feedback>
"""


def google_xml(domain: str, report_id: str, begin: int, end: int, records: Sequence[Rec], p: str = "none") -> str:
    return _feedback('<?xml version="1.0" encoding="UTF-8" ?>\n<feedback>',
                     "    <org_name>google.com</org_name>\n    <email>noreply-dmarc-support@google.com</email>\n"
                     "    <extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>",
                     report_id, begin, end, domain,
                     f"    <p>{p}</p>\n    <sp>{p}</sp>\n    <pct>100</pct>\n    <np>{p}</np>",
                     _records(domain, records, None, "dkim"))


def microsoft_xml(domain: str, report_id: str, begin: int, end: int, records: Sequence[Rec], p: str = "none") -> str:
    return _feedback('<?xml version="1.0"?>\n<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
                     'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n  <version>1.0</version>',
                     "    <org_name>Outlook.com</org_name>\n    <email>dmarcreport@microsoft.com</email>",
                     report_id, begin, end, domain,
                     f"    <p>{p}</p>\n    <sp>{p}</sp>\n    <pct>100</pct>\n    <fo>0</fo>",
                     _records(domain, records, "outlook.com", "dkim")).rstrip("\n")


def yahoo_xml(domain: str, report_id: str, begin: int, end: int, records: Sequence[Rec], p: str = "none",
              org: str = "Yahoo", email: str = "dmarchelp@yahooinc.com") -> str:
    return _feedback('<?xml version="1.0"?>\n<feedback>',
                     f"    <org_name>{org}</org_name>\n    <email>{email}</email>",
                     report_id, begin, end, domain, f"    <p>{p}</p>\n    <pct>100</pct>",
                     _records(domain, records, None, "dkim"))


def _b64(data: bytes, fold: bool = True) -> str:
    text = base64.b64encode(data).decode("ascii")
    return "\n".join(textwrap.wrap(text, 76)) if fold else text


def _message(headers: Sequence[tuple[str, str]], content_type: str, parts: Sequence[tuple[str, str]]) -> bytes:
    """A MIME message written out byte for byte, so each receiver's quirks survive (no library refolding)."""
    boundary = "=_coldmail_test_boundary_7f3a"
    lines = [f"{k}: {v}" for k, v in headers]
    lines += ["MIME-Version: 1.0", f'Content-Type: {content_type}; boundary="{boundary}"', ""]
    for part_headers, body in parts:
        lines += [f"--{boundary}", part_headers, "", body, ""]
    lines += [f"--{boundary}--", ""]
    return "\n".join(lines).replace("\n", "\r\n").encode("utf-8")


def _date(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch + 86400 + 3600, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def google_aggregate(domain: str, report_id: str, begin: int, end: int, records: Sequence[Rec], *, p: str = "none",
                     to: str = "dmarc-reports@acme-mailops.com") -> bytes:
    name = f"google.com!{domain}!{begin}!{end}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{name}.xml", google_xml(domain, report_id, begin, end, records, p))
    return _message(
        [("Date", _date(begin)), ("Message-ID", f"<{report_id}@google.com>"),
         ("Subject", f"Report domain: {domain} Submitter: google.com Report-ID: {report_id}"),
         ("From", "noreply-dmarc-support@google.com"), ("To", to)],
        "multipart/mixed",
        [('Content-Type: text/plain; charset="UTF-8"\nContent-Transfer-Encoding: 7bit', ""),
         (f'Content-Type: application/zip; name="{name}.zip"\nContent-Disposition: attachment; filename="{name}.zip"'
          "\nContent-Transfer-Encoding: base64", _b64(buf.getvalue()))])


def microsoft_aggregate(domain: str, report_id: str, begin: int, records: Sequence[Rec], *, p: str = "none",
                        to: str = "dmarc-reports@acme-mailops.com") -> bytes:
    end = begin + 86400
    name = f"protection.outlook.com!{domain}!{begin}!{end}.xml.gz"
    data = gzip.compress(microsoft_xml(domain, report_id, begin, end, records, p).encode(), mtime=0)
    return _message(
        [("Date", _date(begin)), ("Message-ID", f"<{report_id}@microsoft.com>"),
         ("Subject", f"Report Domain: {domain} Submitter: protection.outlook.com Report-ID: <{report_id}>"),
         ("From", "dmarcreport@microsoft.com"), ("To", to)],
        "multipart/mixed",
        [('Content-Type: text/plain; charset="us-ascii"\nContent-Transfer-Encoding: 7bit',
          f"This is a DMARC aggregate report for {domain}"),
         (f'Content-Type: application/gzip; name="{name}"\nContent-Disposition: attachment; filename="{name}"'
          "\nContent-Transfer-Encoding: base64", _b64(data, fold=False))])


def yahoo_aggregate(domain: str, report_id: str, begin: int, end: int, records: Sequence[Rec], *, p: str = "none",
                    to: str = "dmarc-reports@acme-mailops.com") -> bytes:
    name = f"yahoo.com!{domain}!{begin}!{end}.xml.gz"
    data = gzip.compress(yahoo_xml(domain, report_id, begin, end, records, p).encode(), mtime=0)
    return _message(
        [("Date", _date(begin)), ("Message-ID", f"<{report_id}@dmarc.yahoo.com>"),
         ("Subject", f"Report Domain: {domain} Submitter: yahoo.com Report-ID: <{report_id}>"),
         ("From", "noreply@dmarc.yahoo.com"), ("To", to)],
        "multipart/mixed",
        [(f'Content-Type: application/gzip; name="{name}"\nContent-Disposition: attachment; filename="{name}"'
          "\nContent-Transfer-Encoding: base64", _b64(data))])


def plain_xml_aggregate(domain: str, report_id: str, begin: int, end: int, records: Sequence[Rec], *,
                        p: str = "none", to: str = "dmarc-reports@acme-mailops.com") -> bytes:
    """A smaller receiver's report: the XML attached uncompressed as ``text/xml``."""
    name = f"mail.example.net!{domain}!{begin}!{end}.xml"
    xml = yahoo_xml(domain, report_id, begin, end, records, p, org="mail.example.net",
                    email="dmarc-noreply@mail.example.net")
    return _message(
        [("Date", _date(begin)), ("Subject", f"Report Domain: {domain} Submitter: mail.example.net Report-ID: {report_id}"),
         ("From", "dmarc-noreply@mail.example.net"), ("To", to)],
        "multipart/mixed",
        [(f'Content-Type: text/xml; name="{name}"\nContent-Disposition: attachment; filename="{name}"'
          "\nContent-Transfer-Encoding: base64", _b64(xml.encode()))])


def _tls_json(org: str, contact: str, report_id: str, domain: str, date: dt.date, successful: int,
              failures: Sequence[tuple[str, int, str]]) -> str:
    policy: dict = {"policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing",
                                                                       f"mx: mx1.{domain}", "max_age: 86400"],
                               "policy-domain": domain},
                    "summary": {"total-successful-session-count": successful,
                                "total-failure-session-count": sum(n for _, n, _ in failures)}}
    if failures:
        policy["failure-details"] = [{"result-type": kind, "sending-mta-ip": ip, "receiving-mx-hostname": f"mx1.{domain}",
                                      "failed-session-count": n} for kind, n, ip in failures]
    return json.dumps({"organization-name": org,
                       "date-range": {"start-datetime": f"{date.isoformat()}T00:00:00Z",
                                      "end-datetime": f"{date.isoformat()}T23:59:59Z"},
                       "contact-info": contact, "report-id": report_id, "policies": [policy]})


def _tls_message(submitter: str, sender: str, org_line: str, name: str, report_id: str, domain: str, date: dt.date,
                 body: str, to: str) -> bytes:
    begin = day(date)[0]
    return _message(
        [("Date", _date(begin)), ("TLS-Report-Domain", domain), ("TLS-Report-Submitter", submitter),
         ("Message-ID", f"<{begin}.tls.{domain}@{submitter}>"),
         ("Subject", f"Report Domain: {domain} Submitter: {submitter} Report-ID: <{report_id}>"),
         ("From", sender), ("To", to)],
        "multipart/report; report-type=tlsrpt",
        [('Content-Type: text/plain; charset="UTF-8"\nContent-Transfer-Encoding: 7bit', org_line),
         (f'Content-Type: application/tlsrpt+gzip; name="{name}"\nContent-Disposition: attachment; filename="{name}"'
          "\nContent-Transfer-Encoding: base64", _b64(gzip.compress(body.encode(), mtime=0)))])


def google_tls(domain: str, date: dt.date, successful: int, failures: Sequence[tuple[str, int, str]] = (), *,
               to: str = "tls-reports@acme-mailops.com") -> bytes:
    """``failures``: ``(result-type, failed sessions, sending MTA IP)``."""
    report_id = f"{date.isoformat()}T00:00:00Z_{domain}"
    begin, end = day(date)
    body = _tls_json("Google Inc.", "smtp-tls-reporting@google.com", report_id, domain, date, successful, failures)
    return _tls_message("google.com", "noreply-smtp-tls-reporting@google.com",
                        "This is an aggregate TLS report from google.com", f"google.com!{domain}!{begin}!{end}!001.json.gz",
                        report_id, domain, date, body, to)


def microsoft_tls(domain: str, date: dt.date, successful: int, failures: Sequence[tuple[str, int, str]] = (), *,
                  to: str = "tls-reports@acme-mailops.com") -> bytes:
    begin, _ = day(date)
    report_id = f"{begin}0000000+{domain}"
    body = _tls_json("Microsoft Corporation", "tlsrpt-noreply@microsoft.com", report_id, domain, date, successful,
                     failures)
    return _tls_message("microsoft.com", "tlsrpt-noreply@microsoft.com",
                        "This is an aggregate TLS report from Microsoft Corporation",
                        f"microsoft.com!{domain}!{begin}!{begin + 86400}.json.gz", report_id, domain, date, body, to)


def plain_json_tls(domain: str, date: dt.date, successful: int, failures: Sequence[tuple[str, int, str]] = (), *,
                   to: str = "tls-reports@acme-mailops.com") -> bytes:
    """A smaller receiver's TLS report: the JSON attached uncompressed as ``application/tlsrpt+json``."""
    begin, end = day(date)
    report_id = f"{date.isoformat()}-{domain}@mail.example.net"
    body = _tls_json("mail.example.net", "mailto:tlsrpt@mail.example.net", report_id, domain, date, successful,
                     failures)
    name = f"mail.example.net!{domain}!{begin}!{end}.json"
    return _message(
        [("Date", _date(begin)), ("TLS-Report-Domain", domain), ("TLS-Report-Submitter", "mail.example.net"),
         ("Subject", f"Report Domain: {domain} Submitter: mail.example.net Report-ID: <{report_id}>"),
         ("From", "tlsrpt@mail.example.net"), ("To", to)],
        "multipart/report; report-type=tlsrpt",
        [('Content-Type: text/plain; charset="UTF-8"', "TLS report"),
         (f'Content-Type: application/tlsrpt+json; name="{name}"\nContent-Disposition: attachment; filename="{name}"'
          "\nContent-Transfer-Encoding: base64", _b64(body.encode()))])


def failure_report(domain: str, source_ip: str, arrival: dt.datetime, *, message_id: str = "<spoof-1@mail.test>",
                   to: str = "dmarc-reports@acme-mailops.com") -> bytes:
    when = arrival.strftime("%a, %d %b %Y %H:%M:%S +0000")
    return _message(
        [("Date", when), ("Message-ID", f"<ruf.{int(arrival.timestamp())}@mail516.prod.linkedin.com>"),
         ("Subject", f"DMARC Failure report for {domain} Mail-From: IP:{source_ip}"),
         ("From", "dmarc-noreply@linkedin.com"), ("To", to)],
        "multipart/report; report-type=feedback-report",
        [('Content-Type: text/plain; charset="US-ASCII"\nContent-Transfer-Encoding: 7bit',
          f"This is an email abuse report for an email message received from IP {source_ip} on {when}."),
         ("Content-Type: message/feedback-report",
          "Feedback-Type: auth-failure\nUser-Agent: Lua/1.0\nVersion: 1.0\nOriginal-Mail-From: <billing@" + domain
          + ">\nOriginal-Rcpt-To: recipient@linkedin.com\nArrival-Date: " + when + "\nMessage-ID: " + message_id
          + f"\nAuthentication-Results: dmarc=fail (p=none; dis=none) header.from={domain}\nSource-IP: {source_ip}"
          + f"\nDelivery-Result: delivered\nAuth-Failure: dmarc\nReported-Domain: {domain}"),
         ("Content-Type: message/rfc822\nContent-Disposition: inline",
          f"From: Billing <billing@{domain}>\nTo: recipient@linkedin.com\nSubject: Invoice overdue\nDate: {when}"
          f"\nMessage-ID: {message_id}\n\nPay now.")])


def not_a_report(to: str = "dmarc-reports@acme-mailops.com") -> bytes:
    return _message([("Date", "Mon, 30 Nov 2026 08:00:00 +0000"), ("Subject", "Your weekly newsletter"),
                     ("From", "news@shop.example"), ("To", to)], "multipart/mixed",
                    [('Content-Type: text/plain; charset="UTF-8"', "Deals of the week.")])


def stock(store, parser, messages) -> None:
    """Store the reports of ``messages`` as a fetch would, for tests about what happens after the fetch."""
    store.add_all([parser.parse(raw) for raw in messages], mailbox="test")
