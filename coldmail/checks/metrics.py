"""Prometheus metrics of the current check states, through prometheus-client.

``coldmail_check_status{check,subject}`` is the status as a number (0 ok or info, 1 unknown, 2 warn,
3 fail: the history's severity), ``coldmail_check_value{check,subject}`` the measured value where there
is one (days to certificate expiry, spam rate…), ``coldmail_check_since_seconds`` when the status
began. Written as a node_exporter textfile (atomically) or served over HTTP by the agent.
"""

from __future__ import annotations

from typing import Iterable, Optional

from prometheus_client import CollectorRegistry, Gauge, start_http_server, write_to_textfile

from coldmail.ops.history import SEVERITY, State


def registry_for(states: Iterable[State], stack: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    labels = ("stack", "check", "subject")
    status = Gauge("coldmail_check_status", "Check status: 0 ok/info, 1 unknown, 2 warn, 3 fail", labels,
                   registry=registry)
    value = Gauge("coldmail_check_value", "The value a check measured (days, rates, counts)", labels,
                  registry=registry)
    since = Gauge("coldmail_check_since_seconds", "Unix time since which the status holds", labels,
                  registry=registry)
    for s in states:
        o = s.observation
        status.labels(stack, o.check, o.subject).set(SEVERITY[o.status])
        since.labels(stack, o.check, o.subject).set(s.since.timestamp())
        if o.value is not None:
            value.labels(stack, o.check, o.subject).set(o.value)
    return registry


def write_textfile(path: str, states: Iterable[State], stack: str) -> None:
    """Write the metrics to ``path`` (``*.prom``) for node_exporter's textfile collector."""
    write_to_textfile(path, registry_for(states, stack))


class Served:
    """The metrics on ``http://addr:port/metrics``; :meth:`update` replaces what is served."""

    def __init__(self, port: int, addr: str = "127.0.0.1", stack: str = "") -> None:
        from prometheus_client.registry import Collector

        self.stack = stack
        self._registry: Optional[CollectorRegistry] = None
        served = self

        class _Current(Collector):
            def collect(self):
                if served._registry is None:
                    return iter(())
                return served._registry.collect()

        self._root = CollectorRegistry()
        self._root.register(_Current())
        self.server, self.thread = start_http_server(port, addr=addr, registry=self._root)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def update(self, states: Iterable[State]) -> None:
        self._registry = registry_for(states, self.stack)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
