"""Prometheus metrics of the router. Names follow Prometheus conventions: ``ads_actions_`` prefix,
``_total`` for counters, the unit in the name. deploy/prometheus and deploy/grafana use them.
"""

from __future__ import annotations

from typing import Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RouterMetrics:
    """Every router metric, on one registry (a private one in tests, the global one in a worker).

    Label children are cached: prometheus_client's labels() lookup costs more than the
    increment, and the router touches these for every event.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.consumed = Counter("ads_actions_events_consumed_total",
                                "Messages read from the input topics", ["topic"], registry=registry)
        self.skipped = Counter("ads_actions_events_skipped_total",
                               "Events not acted on: updates, and triggers whose ID was already routed",
                               ["reason"], registry=registry)
        self.rehomed = Counter("ads_actions_events_rehomed_total",
                               "Triggers forwarded to the by-ID topic because they arrived on another "
                               "partition than their event ID's", ["topic"], registry=registry)
        self.dead_letters = Counter("ads_actions_dead_letters_total",
                                    "Input messages sent to the dead-letter topic", ["reason"], registry=registry)
        self.matched = Counter("ads_actions_perspective_matches_total",
                               "Events evaluated per perspective and the priority given (none: no rule matched)",
                               ["perspective", "priority"], registry=registry)
        self.routed = Counter("ads_actions_routed_total", "Routed messages written to action topics",
                              ["perspective", "priority", "action", "kind"], registry=registry)
        self.unrouted = Counter("ads_actions_events_without_action_total",
                                "Triggers that reached no action in any perspective", registry=registry)
        self.latency = Histogram("ads_actions_routing_latency_seconds",
                                 "From the input message's Kafka timestamp to its routed messages "
                                 "being acknowledged by the broker", buckets=LATENCY_BUCKETS, registry=registry)
        self.lag = Gauge("ads_actions_consumer_lag_messages",
                         "Messages in the partition after the last one this worker processed",
                         ["topic", "partition"], registry=registry)
        self._children: dict[tuple, object] = {}

    def child(self, metric, *labels: str):
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels) if labels else metric
        return child

    def increment(self, counts: Mapping[tuple, int]) -> None:
        """Apply counts gathered over a batch, keyed ``(metric, *labels)``: an increment takes a
        lock, and a batch repeats a few label sets, so one increment per label set and batch."""
        for (metric, *labels), count in counts.items():
            self.child(metric, *labels).inc(count)

    def forget(self, metric, *labels: str) -> None:
        """Drop a label set, so a value that no longer means anything is not exported."""
        if self._children.pop((metric, labels), None) is not None:
            metric.remove(*labels)


def serve(host: str, port: int) -> None:
    """Expose the global registry over HTTP; port 0 disables it."""
    if port:
        start_http_server(port, addr=host)
