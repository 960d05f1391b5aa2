"""Prometheus metrics of the sinks, per action. Same conventions as streams/metrics.py; every
metric here has a panel in deploy/grafana (a test checks it)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

DELIVERY_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                            300.0, 900.0, 3600.0)
SCRIPT_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY):
        labels = ["kind", "action"]
        self.delivered = Counter("ads_actions_deliveries_total", "Deliveries carried out",
                                 labels, registry=registry)
        self.failed = Counter("ads_actions_delivery_failures_total",
                              "Tries of a delivery that failed, by reason", labels + ["reason"], registry=registry)
        self.retried = Counter("ads_actions_delivery_retries_total",
                               "Deliveries tried again after a failure", labels, registry=registry)
        self.dead_lettered = Counter("ads_actions_delivery_dead_letters_total",
                                     "Deliveries given up and sent to the dead-letter topic, by reason",
                                     labels + ["reason"], registry=registry)
        self.muted = Counter("ads_actions_deliveries_muted_total",
                             "Deliveries not carried out because a mute window was active",
                             labels + ["window"], registry=registry)
        self.deduplicated = Counter("ads_actions_deliveries_deduplicated_total",
                                    "Routed messages skipped because their action had already delivered "
                                    "the event", labels, registry=registry)
        self.latency = Histogram("ads_actions_delivery_latency_seconds",
                                 "From the event's detection time (since=detected) or its routing "
                                 "(since=routed) to its delivery", labels + ["since"],
                                 buckets=DELIVERY_LATENCY_BUCKETS, registry=registry)
        self.script_runs = Counter("ads_actions_script_runs_total",
                                   "Script runs by result: exit code, timeout, or error starting it",
                                   ["action", "result"], registry=registry)
        self.script_duration = Histogram("ads_actions_script_run_duration_seconds", "Wall time of script runs",
                                         ["action"], buckets=SCRIPT_DURATION_BUCKETS, registry=registry)


class ReportMetrics:
    """Email reports: events gathered into periods, and the mails sent for them. Failed tries,
    retries and dead letters of mails are counted by SinkMetrics under kind="email"."""

    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.events = Counter("ads_actions_report_events_total", "Events added to a report period",
                              ["action", "priority"], registry=registry)
        self.unlisted = Counter("ads_actions_report_events_unlisted_total",
                                "Events counted in a report period but not listed in it (over email.max_rows)",
                                ["action"], registry=registry)
        self.periods = Counter("ads_actions_report_periods_total",
                               "Report periods closed, by outcome: sent, empty (not sent), dead_lettered",
                               ["action", "priority", "outcome"], registry=registry)
        self.mails = Counter("ads_actions_report_mails_total", "Report mails accepted by the SMTP server",
                             ["action", "format"], registry=registry)
        self.open_events = Gauge("ads_actions_report_open_events",
                                 "Events in report periods not sent yet, on this worker", ["action"],
                                 registry=registry)
