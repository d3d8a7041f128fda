"""``coldmail agent run``: the on-server agent, one container per server (``components/operations.py``).

It reads its own config file (rendered by the program), keeps the history on a volume and runs the jobs
of :data:`AGENT_JOBS` on their schedule; after every job it refreshes the metrics and the status page
on the volume. The agent is a thin layer: each job calls a capability, exactly as its CLI command does
(``check``, ``warmup run``, ``backup list``), with what the agent file gives instead of the stack outputs.
"""

from __future__ import annotations

import datetime as _dt
import signal
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from coldmail import backup, hygiene, model
from coldmail.checks import CheckContext, run
from coldmail.checks import metrics as check_metrics
from coldmail.checks import status_page as pages
from coldmail.errors import EXIT_FAILED, ColdmailError, UsageError
from coldmail.model import agentfile
from coldmail.ops import credentials
from coldmail.ops.history import History
from coldmail.ops.notify import Notifier, record_and_notify
from coldmail.ops.schedule import Job, JobRun, Scheduler
from coldmail.warmup.inputs import worker_for
from coldmail.warmup.store import WarmupStore

from ..output import LOG, ErrorEntry, Outcome, table
from ..session import Session


class Agent:
    """What the jobs share: the stack as the agent file describes it, the history, the notifier."""

    def __init__(self, doc: agentfile.AgentFile, session: Session) -> None:
        self.doc, self.session = doc, session
        self.stack = model.load(doc.config)
        self.history = History(doc.history)
        self.notifier = Notifier.from_env(session.env, extra=self.stack.checks.notify_urls)
        self.served: Optional[check_metrics.Served] = None

    def context(self) -> CheckContext:
        """A fresh context per job: this server's IPs and domains, Mailcow over loopback, its relays."""
        urls = {self.doc.server: self.doc.mailcow_url} if self.doc.mailcow_url else {}
        relays = {(self.doc.server, n): endpoint for n, endpoint in self.doc.relays.items()}
        # A resolver set in coldmail:checks wins over the agent file's default (Mailcow's unbound).
        resolver = self.stack.checks.resolver or self.doc.resolver
        return CheckContext.create(self.doc.stack, self.stack, self.doc.outputs, nameservers=self.doc.nameservers,
                                   resolver=resolver, only_server=self.doc.server, env=self.session.env,
                                   relays=relays, mailcow_urls=urls)

    def checks(self, kinds: Sequence[str]) -> dict[str, Any]:
        report = run(self.context(), kinds, history=self.history, notifier=self.notifier)
        return {"status": report.status, "changes": len(report.changes), "observations": len(report.observations)}

    def mailbox_rows(self) -> list[dict[str, Any]]:
        """This server's mailbox logins from the agent file, where the agent reaches them (``mail_endpoints``)."""
        return [{**row, **self.doc.mail_endpoints} for row in credentials.rows_from_outputs(self.doc.outputs)]

    def warmup(self) -> dict[str, Any]:
        """One worker run (``coldmail warmup run``) for this server's mailboxes, its Mailcow and its IPs."""
        urls = {self.doc.server: self.doc.mailcow_url} if self.doc.mailcow_url else {}
        store = WarmupStore(self.history)
        try:
            worker, warnings = worker_for(self.stack, store, self.mailbox_rows(), self.doc.outputs,
                                          self.doc.config.get("servers"), self.session.env, stack=self.doc.stack,
                                          notifier=self.notifier, server=self.doc.server, mailcow_urls=urls)
            report = worker.tick()
        finally:
            store.close()
        for line in warnings + report.errors:
            LOG.warning("warmup: %s", line)
        return {**report.to_dict(), "warnings": warnings}

    def hygiene(self) -> dict[str, Any]:
        """Bounces and complaints in this server's mailboxes into the suppression list and the rates
        (``coldmail suppression scan --no-logs``): the warmup hold reads ``hygiene.*`` from the history."""
        store = hygiene.HygieneStore(self.history)
        tally, errors = hygiene.Tally(), []
        for account in hygiene.accounts_from_rows(self.stack, self.mailbox_rows(), self.doc.server):
            try:
                tally.merge(hygiene.ingest_mailbox(store, account))
            except ColdmailError as exc:
                errors.append(f"{account.address}: {exc.message}")
        mailboxes = [m.address for d in self.stack.domains_on(self.doc.server) for m in d.mailboxes]
        observations = hygiene.observations(hygiene.rates(store, self.history, mailboxes))
        changes, delivery = record_and_notify(self.history, observations, self.notifier, stack=self.doc.stack,
                                              what="hygiene")
        for line in errors:
            LOG.warning("hygiene: %s", line)
        return {"new": tally.to_dict(), "changes": len(changes), "errors": errors,
                "alerted": bool(delivery and delivery.ok)}

    def backups(self) -> dict[str, Any]:
        """This server's backups, listed from the host's tree (``coldmail backup list``), into the history."""
        listing = backup.list_local(self.doc.server, self.doc.host_root or "", self.session.env)
        changes, delivery = record_and_notify(self.history, backup.observations(listing), self.notifier,
                                              stack=self.doc.stack, what="backup")
        return {**listing.to_dict(), "changes": len(changes), "alerted": bool(delivery and delivery.ok)}

    def publish(self) -> None:
        """Metrics and the status page of the current history, on the volume (and served, if configured)."""
        states = self.history.current()
        cfg = self.stack.checks
        if cfg.metrics_textfile:
            check_metrics.write_textfile(cfg.metrics_textfile, states, self.doc.stack)
        if cfg.metrics_port and self.served is None:
            # Loopback only: scrape it on the server, or through an SSH tunnel.
            self.served = check_metrics.Served(cfg.metrics_port, addr="127.0.0.1", stack=self.doc.stack)
        if self.served is not None:
            self.served.update(states)
        pages.write(self.doc.site_dir, pages.render(self.doc.stack, self.context().targets, self.history))


@dataclass(frozen=True)
class AgentJob:
    """One scheduled job: its name (also its key in ``coldmail:checks.schedule``), default interval, work."""

    name: str
    every: _dt.timedelta
    run: Callable[[Agent], Any]
    enabled: Callable[[Agent], bool] = lambda agent: True


#: Every job of the on-server agent, one entry each, in the order a round runs them: the checks first, so
#: the warmup's hold reads their latest results.
AGENT_JOBS: tuple[AgentJob, ...] = (
    AgentJob("checks.hourly", _dt.timedelta(hours=1), lambda a: a.checks(("dns", "auth", "smtp"))),
    AgentJob("checks.blacklist", _dt.timedelta(days=1), lambda a: a.checks(("blacklist",))),
    AgentJob("checks.postmaster", _dt.timedelta(days=1), lambda a: a.checks(("postmaster",)),
             enabled=lambda a: a.stack.checks.postmaster is not None),
    # Each run sends what is due by now of the day's caps, so a run every few minutes spreads the day's mail.
    # Before the warmup, so its hold reads this round's bounce and complaint rates too.
    AgentJob("hygiene.scan", _dt.timedelta(hours=1), Agent.hygiene, enabled=lambda a: bool(a.mailbox_rows())),
    AgentJob("warmup.run", _dt.timedelta(minutes=10), Agent.warmup, enabled=lambda a: bool(a.mailbox_rows())),
    AgentJob("backup.health", _dt.timedelta(days=1), Agent.backups,
             enabled=lambda a: a.stack.backup.enabled and a.doc.host_root is not None),
)


def scheduler_for(agent: Agent, jobs: Sequence[AgentJob] = AGENT_JOBS) -> Scheduler:
    return Scheduler(agent.history, [Job(j.name, agent.stack.checks.interval(j.name, j.every),
                                         lambda j=j: j.run(agent)) for j in jobs if j.enabled(agent)])


def agent_run(session: Session, stack: str, *, config_file: str, once: bool = False,
              jobs: Sequence[AgentJob] = AGENT_JOBS) -> Outcome:
    """Run the agent's ``jobs``: with ``once`` the due ones run and it returns; else it runs until SIGTERM."""
    out = Outcome("agent run", stack=stack)
    try:
        doc = agentfile.read(config_file)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the agent file {config_file}: {exc}",
                         "the program renders it: run `pulumi up`") from None
    if doc.stack != stack:
        raise UsageError(f"the agent file is for stack {doc.stack!r}, not {stack!r}", f"--stack {doc.stack}")
    agent = Agent(doc, session)
    scheduler = scheduler_for(agent, jobs)
    ran: list[JobRun] = []

    def after(runs: list[JobRun]) -> None:
        ran.extend(runs)
        agent.publish()
        for r in runs:
            LOG.info("job %s: %s", r.name, "ok" if r.ok else f"failed: {r.error}")

    if once:
        runs = scheduler.run_due()
        if runs:
            after(runs)
    else:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        LOG.info("agent for %s/%s: %s", doc.stack, doc.server,
                 ", ".join(f"{j.name} every {j.every}" for j in scheduler.jobs))
        scheduler.loop(stop, after)
        if agent.served is not None:
            agent.served.close()
    last = scheduler.last_runs()
    out.result = {"server": doc.server, "history": doc.history, "site": doc.site_dir,
                  "runs": [dict(r.to_dict(), result=r.result) for r in ran],
                  "jobs": [{"job": j.name, "every_seconds": int(j.every.total_seconds()),
                            "last_run": last[j.name].isoformat() if j.name in last else None}
                           for j in scheduler.jobs]}
    out.text = (table(["job", "every", "last run"], [[j.name, str(j.every), last.get(j.name, "never")]
                                                      for j in scheduler.jobs])
                + f"\n\n{len(ran)} job run(s); history {doc.history}")
    for r in ran:
        if not r.ok:
            out.exit_code = EXIT_FAILED
            out.errors.append(ErrorEntry("job_failed", f"job {r.name} failed: {r.error}",
                                         fix="see the agent's log; the job runs again at its next interval"))
    return out
