"""Warmup messages vary like people's mail, carry the marker header, and answers are threaded."""

from __future__ import annotations

import random

from coldmail.warmup import content

HEADER = "X-Coldmail-Warmup"


def test_a_hundred_messages_rarely_repeat_and_look_like_plain_personal_mail():
    rng = random.Random(11)
    msgs = [content.exchange(rng, HEADER, f"tok{i}", "anna@acme-growth.com", "Anna Berg", "you.seed@gmail.com",
                             "Sam Lee") for i in range(100)]
    bodies = {m.get_content() for m in msgs}
    subjects = {m["Subject"] for m in msgs}
    assert len(bodies) >= 95 and len(subjects) >= 40
    for i, m in enumerate(msgs):
        assert m[HEADER] == f"tok{i}" and m["From"] == "Anna Berg <anna@acme-growth.com>"
        assert m["Message-ID"].endswith("@acme-growth.com>")
        assert m.get_content_type() == "text/plain" and m["Content-Transfer-Encoding"] == "7bit"
        text = m.get_content()
        assert "http" not in text and all(len(line) <= 78 for line in text.splitlines())
        assert text.splitlines()[0].endswith("Sam,") or text.splitlines()[0] == "Sam,"
        assert text.rstrip().endswith("Anna")


def test_an_answer_is_threaded_under_the_message_it_answers():
    rng = random.Random(3)
    first = content.exchange(rng, HEADER, "t1", "anna@acme-growth.com", "Anna Berg", "you.seed@gmail.com", "")
    answer = content.reply(rng, HEADER, "t2", "you.seed@gmail.com", "", "anna@acme-growth.com", "Anna Berg",
                           first["Subject"], first["Message-ID"], "<older@acme-growth.com>")
    assert answer["Subject"] == f"Re: {first['Subject']}"
    assert answer["In-Reply-To"] == first["Message-ID"]
    assert answer["References"] == f"<older@acme-growth.com> {first['Message-ID']}"
    assert answer[HEADER] == "t2" and answer["To"] == "Anna Berg <anna@acme-growth.com>"
    again = content.reply(rng, HEADER, "t3", "anna@acme-growth.com", "Anna Berg", "you.seed@gmail.com", "",
                          answer["Subject"], answer["Message-ID"])
    assert again["Subject"] == answer["Subject"]     # no "Re: Re:"
