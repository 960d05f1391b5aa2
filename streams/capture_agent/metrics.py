"""Prometheus metrics of the capture agent: on the worker's registry when the worker runs the
agent (agent: local), on the agent's own endpoint otherwise. Every metric has a panel in
deploy/grafana (tests/deploy/test_grafana.py checks it)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


class CaptureMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.captures = Counter("ads_actions_captures_total", "Captures ended, by group and result "
                                "(finished, failed, cancelled)", ["group", "result"], registry=registry)
        self.running = Gauge("ads_actions_captures_running", "Captures waiting, recording or being extracted",
                             registry=registry)
        self.offset_beyond_ttl = Counter("ads_actions_capture_offset_beyond_ttl_total",
                                         "Captures whose recording start offset exceeds the TTL of one of "
                                         "their interfaces", ["interface"], registry=registry)
        self.retention_deleted = Counter("ads_actions_capture_retention_deletions_total",
                                         "Finished captures deleted by retention, by reason (age, size)",
                                         ["reason"], registry=registry)
        self.stored_bytes = Gauge("ads_actions_capture_stored_bytes", "Size of the finished captures kept",
                                  registry=registry)
        self.ring_up = Gauge("ads_actions_capture_ring_up", "1 while the interface's ring buffer records",
                             ["interface"], registry=registry)
