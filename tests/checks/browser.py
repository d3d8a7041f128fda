"""Headless Chromium (Debian's ``chromium``) for the status page: the rendered DOM and a screenshot."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Optional

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def _chromium(args: list[str]) -> subprocess.CompletedProcess:
    # A missing browser is a broken test machine, never a reason to skip (`make system-deps` installs it).
    assert os.path.exists(CHROMIUM), "Debian's chromium is not installed: run `make system-deps`"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=120)


def dump_dom(path: str) -> str:
    run = _chromium(["--dump-dom", f"file://{path}"])
    assert run.returncode == 0 and "<html" in run.stdout, run.stderr[-2000:]
    return run.stdout


def screenshot(path: str, out: str, width: int = 1400, height: int = 2400) -> None:
    run = _chromium([f"--screenshot={out}", f"--window-size={width},{height}", f"file://{path}"])
    assert run.returncode == 0 and os.path.getsize(out) > 10000, run.stderr[-2000:]


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Optional["Element"] = None
    children: list["Element"] = field(default_factory=list)
    parts: list[object] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(" ".join(p.text if isinstance(p, Element) else str(p) for p in self.parts).split())

    def find_all(self, tag: Optional[str] = None, **attrs: str) -> list["Element"]:
        out = []
        for c in self.children:
            if (tag is None or c.tag == tag) and all(c.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(c)
            out += c.find_all(tag, **attrs)
        return out

    def find(self, tag: Optional[str] = None, **attrs: str) -> "Element":
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag or '*'} {attrs}> in <{self.tag} {self.attrs}>"
        return found[0]


class _Builder(HTMLParser):
    VOID = {"meta", "br", "img", "link", "input", "hr", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__()
        self.root = Element("#root", {})
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        el = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(el)
        self.current.parts.append(el)
        if tag not in self.VOID:
            self.current = el

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.parts.append(data)


def parse(html: str) -> Element:
    b = _Builder()
    b.feed(html)
    return b.root
