"""The status page rendered by headless Chromium: the page a person sees says what the history holds.

The screenshot is kept as a test artifact in ``test-artifacts/status-page.png``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil

from coldmail.checks import status_page
from coldmail.ops.history import utcnow
from tests.checks.browser import dump_dom, parse, screenshot
from tests.checks.demo import build

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, "test-artifacts")


def cell_of(dom, grid: str, subject: str, column: int):
    row = dom.find("section", id=grid).find("tr", data_subject=subject)
    return row.find_all("td")[column]


def test_the_rendered_page_shows_states_listings_certificates_and_what_other_capabilities_wrote(
        zone, stack, mailcow, tmp_path):
    now = utcnow().replace(minute=0, second=0)
    history, targets = build(zone, stack, mailcow, tmp_path, now)
    page = status_page.render("prod", targets, history, now=now + dt.timedelta(hours=1))
    path = status_page.write(str(tmp_path / "site"), page)
    dom = parse(dump_dom(path))

    # Sending IPs: ip1 listed (and since when), the standby ip3 clean, ip0's level-3 listing is no failure.
    ip1 = cell_of(dom, "ips", "ip:127.0.0.11", 1).find("span", **{"data-status": "fail"})
    assert ip1.text.startswith("listed since 3 d")
    assert cell_of(dom, "ips", "ip:127.0.0.13", 1).find("span", **{"data-status": "ok"}).text.startswith("clean")
    assert cell_of(dom, "ips", "ip:127.0.0.1", 1).find("span", **{"data-status": "info"})
    assert cell_of(dom, "ips", "ip:127.0.0.12", 6).text.startswith("warning")        # inbox placement 72%

    listings = dom.find("section", id="listings")
    zen = listings.find("tr", data_check="blacklist.zen", data_subject="ip:127.0.0.11")
    assert "Spamhaus ZEN" in zen.text and "SBL: a known spam source" in zen.text
    assert zen.find("a").attrs["href"] == "https://check.spamhaus.org/results/?query=127.0.0.11"
    assert listings.find("tr", data_check="blacklist.surbl", data_subject="domain:acme-gamma.co")
    assert not listings.find_all("tr", data_check="blacklist.spamcop")          # delisted on day 6

    proposals = dom.find("section", id="proposals").text
    assert "coldmail domain move acme-alpha.com --ip 3 --stack prod" in proposals
    assert "coldmail domain move acme-beta.io --ip 0 --stack prod" in proposals

    assert cell_of(dom, "domains", "domain:acme-beta.io", 1).find("span", **{"data-status": "fail"})   # the DMARC edit
    assert cell_of(dom, "servers", "server:mx1", 2).text.startswith("warning")                        # 21 days left
    certificates = dom.find("section", id="certificates").text
    assert "21 days" in certificates and "certificate expires in 21 days" in certificates

    ops = dom.find("section", id="operations")
    assert "sent 37 of 40 today" in ops.find("tr", data_check="warmup.sent", data_subject="ip:127.0.0.11").text
    assert "inbox placement 72% (gmail)" in ops.text
    assert "latest backup 6 h old" in ops.find("tr", data_check="backup.latest").text

    chart = dom.find("div", data_subject="ip:127.0.0.11")
    zen_bars = [r.attrs["data-status"] for r in chart.find_all("rect", data_check="blacklist.zen")]
    assert zen_bars == ["ok"] * 10 + ["fail"] * 5
    spamcop_bars = [r.attrs["data-status"] for r in chart.find_all("rect", data_check="blacklist.spamcop")]
    assert spamcop_bars == ["ok"] * 4 + ["fail"] * 2 + ["ok"] * 9

    # Works offline: nothing is loaded from anywhere.
    assert "<script" not in page and "<link" not in page and "<img" not in page and "url(" not in page

    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "status-page.png")
    screenshot(path, shot, height=3200)
    shutil.copy(path, os.path.join(ARTIFACTS, "status-page.html"))
