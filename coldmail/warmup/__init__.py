"""Warmup: a ramp per IP and mailbox that the server itself holds, real exchanges, placement measured.

- :mod:`.schedule`: the caps of each day, a pure function of the plan, the start date, the day and held days.
- :mod:`.hold`: when the ramp holds, read from the health the other capabilities record in the history.
- :mod:`.ramps`: today's ramp of every sending IP (start, held days, hold).
- :mod:`.store`: the warmup's tables in the history file: sends reserved before they go out, receipts.
- :mod:`.ratelimits`: the caps as Mailcow per-mailbox rate limits (read, compare, act).
- :mod:`.transport`, :mod:`.content`: SMTP/IMAP logins and human-looking messages.
- :mod:`.worker`: one tick of enforcing, receiving, answering and sending.
- :mod:`.placement`: probes to the seeds and where they landed.
- :mod:`.status`: today's caps, sends, receipts, replies and placement.
- :mod:`.inputs`: logins, IP addresses and Mailcow clients from the stack's config and outputs.

It imports the model, the operations layer (history, notifier, signals) and the Mailcow client only.
"""
