"""Warmup messages that read like mail between colleagues: varied subjects, bodies, greetings and replies.

Filters score repetitive, templated mail as bulk; each message here is assembled from several
independent choices (topic, opening, two or three sentences, a question, a sign-off), so a few hundred
messages a day rarely repeat. No links, no images, no tracking: plain text, as people write.
Every message carries the warmup header with a unique token, so users' tools can filter it out and the
worker can find it again.
"""

from __future__ import annotations

import random
import textwrap
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Optional

from coldmail.ops.history import utcnow

_TOPICS = [
    ("the quarterly numbers", ["I went through the quarterly numbers this morning.",
                               "The figures look steadier than last quarter.",
                               "Most of the growth came from the second half."]),
    ("next week's workshop", ["The room for the workshop is booked for Tuesday.",
                              "I moved the agenda into the shared folder.",
                              "We still need someone to open the second session."]),
    ("the supplier call", ["The supplier confirmed the new delivery dates.",
                           "They asked whether we can take the order in two parts.",
                           "Pricing stays as agreed for the rest of the year."]),
    ("the onboarding notes", ["I cleaned up the onboarding notes a bit.",
                              "The section on accounts was out of date.",
                              "New starters kept asking about the same two steps."]),
    ("the project timeline", ["The timeline slipped by about a week.",
                              "Design is done; the build starts on Monday.",
                              "Testing should still fit before the end of the month."]),
    ("lunch on Thursday", ["A few of us are going for lunch on Thursday.",
                           "The new place near the station has a decent menu.",
                           "We would leave around half past twelve."]),
    ("the customer feedback", ["We got a good batch of customer feedback this week.",
                               "Two people mentioned the same problem with invoices.",
                               "Overall the tone was friendlier than in spring."]),
    ("the hiring plan", ["The hiring plan went to finance yesterday.",
                         "We asked for two roles instead of three.",
                         "Interviews could start in about three weeks."]),
    ("the conference", ["Registration for the conference opens on Friday.",
                        "The talks on logistics look worth the trip.",
                        "Early tickets are a fair bit cheaper."]),
    ("the office move", ["The movers come on the fourteenth.",
                         "Boxes are in the storage room if you need any.",
                         "Internet at the new office should be up the day before."]),
    ("the budget draft", ["I attached my notes on the budget draft to the ticket.",
                          "Travel is the one line that looks too tight.",
                          "The rest seems realistic to me."]),
    ("the newsletter", ["The newsletter draft is ready for a read.",
                        "I kept it shorter than last month.",
                        "The piece on the warehouse team came out nicely."]),
]
_SUBJECTS = ["{topic}", "Quick question about {topic}", "Re {topic}", "About {topic}", "{Topic} - update",
             "Thoughts on {topic}?", "Following up on {topic}", "{Topic}", "Notes on {topic}", "Small thing: {topic}"]
_GREETINGS = ["Hi {name},", "Hello {name},", "Hey {name},", "{name},", "Good morning {name},", "Hi there {name},"]
_GREETINGS_NO_NAME = ["Hi,", "Hello,", "Hi there,", "Good morning,", "Hello there,"]
_QUESTIONS = ["Does that work for you?", "Any thoughts?", "Could you take a look when you have a minute?",
              "Let me know what you think.", "Does that match what you heard?", "Should we talk it through?",
              "Happy to hear other ideas.", ""]
_CLOSINGS = ["Thanks,", "Best,", "Cheers,", "Talk soon,", "Regards,", "Thanks a lot,", "All the best,"]
_REPLIES = ["Thanks for the note, {name}.", "Good to hear, thanks {name}.", "Thanks {name}, that helps.",
            "Makes sense to me.", "Sounds good, {name}.", "Got it, thank you."]
_REPLIES_NO_NAME = ["Thanks for the note.", "Good to hear, thanks.", "Thanks, that helps.", "Makes sense to me.",
                    "Sounds good.", "Got it, thank you."]
_REPLY_BODIES = ["I will have a look later today.", "That works for me.", "Let's go with that.",
                 "I had the same impression.", "I can take the second part.", "Tuesday is fine on my side.",
                 "I'll bring it up in the team meeting.", "No objections from me."]


def _first(name: str) -> str:
    return name.split(" ", 1)[0] if name else ""


def _base(header: str, token: str, sender: str, sender_name: str, recipient: str, recipient_name: str,
          subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{sender_name} <{sender}>" if sender_name else sender
    msg["To"] = f"{recipient_name} <{recipient}>" if recipient_name else recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    msg[header] = token
    # Wrapped like a mail client wraps plain text, so the body stays 7-bit and readable as sent.
    msg.set_content("\n\n".join(textwrap.fill(p, 72) if "\n" not in p else p for p in body.split("\n\n")) + "\n")
    return msg


def exchange(rng: random.Random, header: str, token: str, sender: str, sender_name: str, recipient: str,
             recipient_name: str) -> EmailMessage:
    """A first message from ``sender`` to ``recipient``."""
    topic, lines = rng.choice(_TOPICS)
    subject = rng.choice(_SUBJECTS).format(topic=topic, Topic=topic[:1].upper() + topic[1:])
    name = _first(recipient_name)
    greeting = rng.choice(_GREETINGS).format(name=name) if name else rng.choice(_GREETINGS_NO_NAME)
    sentences = rng.sample(lines, k=rng.randint(2, len(lines)))
    question = rng.choice(_QUESTIONS)
    paragraphs = [greeting, " ".join(sentences) + (f" {question}" if question else ""),
                  f"{rng.choice(_CLOSINGS)}\n{_first(sender_name) or sender.split('@')[0]}"]
    return _base(header, token, sender, sender_name, recipient, recipient_name, subject, "\n\n".join(paragraphs))


def reply(rng: random.Random, header: str, token: str, sender: str, sender_name: str, recipient: str,
          recipient_name: str, subject: str, in_reply_to: str, references: Optional[str] = None) -> EmailMessage:
    """``sender``'s answer to ``recipient``'s message ``in_reply_to``, threaded."""
    name = _first(recipient_name)
    opening = rng.choice(_REPLIES).format(name=name) if name else rng.choice(_REPLIES_NO_NAME)
    body = "\n\n".join([f"{opening} {rng.choice(_REPLY_BODIES)}",
                        f"{rng.choice(_CLOSINGS)}\n{_first(sender_name) or sender.split('@')[0]}"])
    subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    msg = _base(header, token, sender, sender_name, recipient, recipient_name, subject, body)
    msg["In-Reply-To"] = in_reply_to
    msg["References"] = f"{references} {in_reply_to}".strip() if references else in_reply_to
    return msg


def probe(rng: random.Random, header: str, token: str, sender: str, sender_name: str, recipient: str) -> EmailMessage:
    """A placement test: an ordinary message, so it lands where the sender's real mail would."""
    return exchange(rng, header, token, sender, sender_name, recipient, "")
