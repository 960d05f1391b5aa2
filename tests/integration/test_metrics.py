"""The worker's Prometheus endpoint counts what the router did."""

from __future__ import annotations

import time

import orjson
import pytest

from streams.broker import free_port
from streams.config import load_settings
from streams.demo import scrape_metrics
from streams.publish import publish_lines
from tests.integration.test_routing import ads_event
from tests.kafka_helpers import WorkerProcess

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[tuple, float]:
    return scrape_metrics(f"http://127.0.0.1:{port}/metrics")


def test_metrics_count_consumed_skipped_dead_lettered_and_routed(isolated_config, tmp_path):
    port = free_port()
    config = isolated_config(metrics={"host": "127.0.0.1", "port": port})
    settings = load_settings(config)
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    try:
        publish_lines(settings, [orjson.dumps(ads_event(701, "DOS")), orjson.dumps(ads_event(701, "DOS")),
                                 orjson.dumps(ads_event(702, "SRVNA", update=True)), b"{broken"])
        consumed = ("ads_actions_events_consumed_total", (("topic", settings.topics.events),))
        latency_count = ("ads_actions_routing_latency_seconds_count", ())
        # Counters move while a batch is processed, the latency once its messages are acknowledged.
        deadline = time.monotonic() + 60
        samples = scrape(port)
        while (samples.get(consumed, 0) < 4 or samples.get(latency_count, 0) < 4) and time.monotonic() < deadline:
            time.sleep(0.2)
            samples = scrape(port)
    finally:
        worker.stop()
    assert samples[("ads_actions_events_consumed_total", (("topic", settings.topics.events),))] == 4
    assert samples[("ads_actions_events_skipped_total", (("reason", "duplicate"),))] == 1
    assert samples[("ads_actions_events_skipped_total", (("reason", "update"),))] == 1
    assert samples[("ads_actions_dead_letters_total", (("reason", "invalid_json"),))] == 1
    routed = {labels: value for (name, labels), value in samples.items() if name == "ads_actions_routed_total"}
    assert routed == {
        (("action", action), ("kind", kind), ("perspective", perspective), ("priority", "CRITICAL")): 1.0
        for action, kind, perspective in [("soc-reports", "email", "security"), ("soc-tickets", "email", "security"),
                                          ("siem-cef", "syslog", "security"),
                                          ("sms-gateway", "script", "security"),
                                          ("record-attacks", "capture", "security"),
                                          ("noc-traps", "snmp", "operations")]
    }
    assert samples[("ads_actions_perspective_matches_total", (("perspective", "security"), ("priority", "CRITICAL")))] == 1
    assert samples[latency_count] == 4
