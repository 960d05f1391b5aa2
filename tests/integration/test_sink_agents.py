"""The sink agents in a real worker, end to end: ADS events published to Kafka reach a real
rsyslog once, also when routed messages are replayed after a restart; deliveries to a receiver
that is down are retried, dead-lettered with their reason, and re-driven once it is up."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from streams import broker as embedded
from streams.config import load_settings
from streams.publish import produce_waiting, producer_for, publish_lines
from streams.receivers.rsyslog import PrivateRsyslog
from tests.kafka_helpers import WorkerProcess, read_topics

pytestmark = pytest.mark.integration


def ads_event(event_id: int, event_type: str = "DOS", **fields: object) -> bytes:
    return orjson.dumps({"id": event_id, "timestamp": "2025-11-03 15:10:43", "type": event_type,
                         "source": "10.0.112.1", "targets": ["192.168.112.2"], "detail": f"event {event_id}",
                         **fields})


def syslog_only(target: dict, **action: object) -> dict:
    return {"syslog": [{"name": "siem-cef", "perspective": "security", "min_priority": "LOW",
                        "use_event_id": True, "target": target, **action}]}


@pytest.fixture
def rsyslog(tmp_path):
    with PrivateRsyslog(tmp_path / "rsyslog") as receiver:
        yield receiver


def event_ids(records) -> list[int]:
    return sorted(int(record.msg.split("cn1=")[1].split()[0]) for record in records)


def test_events_reach_rsyslog_once_also_when_replayed_after_a_restart(isolated_config, rsyslog, tmp_path):
    config = isolated_config(actions=syslog_only({"host": "127.0.0.1", "port": rsyslog.tcp_port,
                                                  "transport": "tcp"}))
    settings = load_settings(config)
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    try:
        publish_lines(settings, [ads_event(1), ads_event(2, "SCANS"), ads_event(3, "DIVCOM")])
        assert event_ids(rsyslog.wait_for_records(3)) == [1, 2, 3]
    finally:
        worker.stop()
    # Replay the routed messages (as a topic replay or a crash before the commit would): the
    # delivered table, recovered from its changelog, stops them from being delivered again.
    routed = read_topics(settings.kafka.bootstrap_servers, [settings.topics.actions.syslog], 3)
    producer = producer_for(settings)
    for record in routed:
        produce_waiting(producer, record.topic, record.value, record.key)
    producer.flush(10)
    worker = WorkerProcess(config, tmp_path / "worker-2.log").start()
    try:
        publish_lines(settings, [ads_event(4)])
        records = rsyslog.wait_for_records(4)
        assert event_ids(rsyslog.wait_for_records(5, timeout=3)) == [1, 2, 3, 4]
        assert all(record.facility == "local6" for record in records)
    finally:
        worker.stop()


def test_failed_deliveries_are_dead_lettered_and_redriven_once_the_receiver_is_up(isolated_config, tmp_path):
    port = embedded.free_port()  # nothing listens there yet
    config = isolated_config(actions=syslog_only(
        {"host": "127.0.0.1", "port": port, "transport": "tcp", "timeout": "2s"},
        retry={"max_attempts": 2, "initial_backoff": "100ms"}))
    settings = load_settings(config)
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    try:
        publish_lines(settings, [ads_event(11), ads_event(12)])
        dead = read_topics(settings.kafka.bootstrap_servers, [settings.topics.dead_letter], 2)
        assert sorted(record.headers["ads-dlq-reason"] for record in dead) == ["connection_refused"] * 2
        assert {record.headers["ads-dlq-stage"] for record in dead} == {"delivery"}
        assert {record.headers["ads-dlq-action"] for record in dead} == {"siem-cef"}
        assert {record.headers["ads-dlq-attempts"] for record in dead} == {"2"}
        with PrivateRsyslog(tmp_path / "rsyslog", tcp_port=port) as rsyslog:
            redrive = [sys.executable, "-m", "streams.cli", "redrive", "-c", str(config), "--action", "siem-cef"]
            first = subprocess.run(redrive, capture_output=True, text=True, timeout=120)
            assert first.returncode == 0, first.stderr
            assert "re-drove 2 dead-lettered deliveries (connection_refused: 2)" in first.stdout
            assert event_ids(rsyslog.wait_for_records(2)) == [11, 12]
            # What was re-driven is remembered: a second run finds nothing new.
            second = subprocess.run(redrive, capture_output=True, text=True, timeout=120)
            assert "re-drove 0 dead-lettered deliveries" in second.stdout, second.stdout + second.stderr
            assert event_ids(rsyslog.wait_for_records(3, timeout=3)) == [11, 12]
    finally:
        worker.stop()


def test_a_hanging_script_does_not_delay_syslog(isolated_config, rsyslog, tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "hang.sh").write_text("#!/bin/sh\nexec sleep 600\n")
    (scripts / "hang.sh").chmod(0o755)
    actions = syslog_only({"host": "127.0.0.1", "port": rsyslog.tcp_port, "transport": "tcp"})
    actions["script"] = [{"name": "hangs", "perspective": "security", "script": "hang.sh", "timeout": "10m"}]
    config = isolated_config(actions=actions, scripts={"directory": str(scripts)})
    settings = load_settings(config)
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    try:
        publish_lines(settings, [ads_event(21)])
        assert event_ids(rsyslog.wait_for_records(1)) == [21]
        publish_lines(settings, [ads_event(22)])  # the script still hangs on event 21
        assert event_ids(rsyslog.wait_for_records(2)) == [21, 22]
    finally:
        worker.stop()


def test_redrive_refuses_an_action_that_is_not_configured(isolated_config):
    config = isolated_config()
    result = subprocess.run([sys.executable, "-m", "streams.cli", "redrive", "-c", str(config), "--action", "nope"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "expected the name of an action in the configuration, found 'nope'" in result.stderr
