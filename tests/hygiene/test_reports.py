"""Delivery status notifications and feedback reports parsed into bounces and complaints."""

import pytest

from coldmail.hygiene import Bounce, Complaint, bounce_kind, parse_report
from tests.hygiene.samples import arf, dsn, plain

ANNA = "anna@acme-growth.test"


@pytest.mark.parametrize("status, action, diagnostic, kind", [
    ("5.1.1", "failed", "550 5.1.1 user unknown", "hard"),
    ("5.1.10", "failed", "550 5.1.10 null MX", "hard"),
    ("5.2.1", "failed", "550 5.2.1 mailbox disabled", "hard"),
    ("5.4.4", "failed", "unable to route", "hard"),
    ("5.0.0", "failed", "550 Recipient address rejected: User unknown in virtual mailbox table", "hard"),
    ("5.0.0", "failed", "550 rejected for policy reasons", "soft"),
    ("5.2.2", "failed", "552 mailbox full", "soft"),
    ("5.7.1", "failed", "550 5.7.1 Message rejected due to spam content", "soft"),
    ("5.7.26", "failed", "550 5.7.26 unauthenticated mail is prohibited", "soft"),
    ("4.2.0", "delayed", "450 greylisted", "soft"),
    ("5.1.1", "delayed", "no such user", "soft"),
    ("garbage", "failed", "user unknown", "soft"),
])
def test_only_permanent_failures_of_the_address_itself_are_hard(status, action, diagnostic, kind):
    assert bounce_kind(status, action, diagnostic) == kind


def test_a_dsn_gives_one_bounce_per_undelivered_recipient():
    raw = dsn(ANNA, [("Bad@Dest.test", "failed", "5.1.1", "550-5.1.1 The email account does not exist"),
                     ("slow@dest.test", "delayed", "4.4.1", "connect to mx.dest.test: Connection timed out"),
                     ("ok@dest.test", "delivered", "2.0.0", "250 ok")], queue_id="4F2A1C3B9D")
    report = parse_report(raw)
    assert report.message_id.startswith("<dsn-")
    assert report.bounces == (
        Bounce("bad@dest.test", "5.1.1", "failed", "smtp; 550-5.1.1 The email account does not exist", "hard",
               "4F2A1C3B9D", ANNA),
        Bounce("slow@dest.test", "4.4.1", "delayed", "smtp; connect to mx.dest.test: Connection timed out", "soft",
               "4F2A1C3B9D", ANNA))
    assert report.complaints == ()


def test_a_dsn_without_postfix_fields_takes_the_sender_from_the_returned_headers():
    report = parse_report(dsn(ANNA, [("gone@dest.test", "failed", "5.1.1", "no such user")], headers_only=True))
    (bounce,) = report.bounces
    assert (bounce.recipient, bounce.kind, bounce.queue_id, bounce.sender) == ("gone@dest.test", "hard", None, ANNA)


def test_an_arf_report_names_the_complainer_from_original_rcpt_to():
    report = parse_report(arf(ANNA, "Angry@Mailbox-Provider.test"))
    assert report.complaints == (Complaint("angry@mailbox-provider.test", "abuse", ANNA, "acme-growth.test"),)
    assert report.bounces == ()


def test_an_arf_report_without_original_rcpt_to_takes_the_returned_message_s_to():
    report = parse_report(arf(ANNA, None, to_header="Jo <jo@provider.test>"))
    assert [c.address for c in report.complaints] == ["jo@provider.test"]


def test_other_mail_is_no_report():
    assert parse_report(plain("jo@provider.test", ANNA)) is None
