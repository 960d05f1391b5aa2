"""The routing agent on a real broker: events in, routed messages out on every action topic,
duplicates and updates skipped (also across a worker restart), bad input dead-lettered with its
reason while the good events around it are routed."""

from __future__ import annotations

import orjson
import pytest
from confluent_kafka import Producer

from streams.avro_codec import AvroCodec, ads_event_record
from streams.config import load_settings
from streams.events import InputLimits, parse_ads_json
from streams.publish import producer_for, publish_lines
from streams.triggers import home_partition
from tests.kafka_helpers import WorkerProcess, read_topics

pytestmark = pytest.mark.integration

ROUTED = AvroCodec("ads_actions.RoutedAction")


def ads_event(event_id: int, event_type: str, source: str = "10.0.112.1", **fields: object) -> dict:
    return {"id": event_id, "timestamp": "2025-11-03 15:10:43", "firstFlow": "2025-11-03 15:05:00",
            "type": event_type, "source": source, "targets": ["192.168.112.2", "192.168.112.3"],
            "detail": f"{event_type} detail", "netFlowSource": "Default", **fields}


def lines(*events: object) -> list[bytes]:
    return [event if isinstance(event, bytes) else orjson.dumps(event) for event in events]


def routed(records) -> list[dict]:
    """Decoded routed messages, as (action, event id, perspective, priority, key) rows."""
    rows = []
    for record in records:
        message = ROUTED.decode(record.value)
        rows.append({"action": message["action"], "kind": message["kind"], "id": message["event"][1]["id"],
                     "perspective": message["perspective"], "perspective_id": message["perspectiveId"],
                     "priority": message["priority"], "key": record.key.decode(), "topic": record.topic})
    return rows


@pytest.fixture
def worker(isolated_config, tmp_path):
    """Start a worker on a fresh config; yields (settings, worker process)."""
    started: list[WorkerProcess] = []

    def start(config_path=None, **sections):
        # The router alone: these tests read the action and dead-letter topics, which the sink
        # agents would add failed deliveries to (tests/integration/test_sink_agents.py has those).
        sections.setdefault("worker", {"roles": ["router"]})
        config_path = config_path or isolated_config(**sections)
        process = WorkerProcess(config_path, tmp_path / "worker.log").start()
        started.append(process)
        return load_settings(config_path), process

    yield start
    for process in started:
        process.stop()


def action_topics(settings) -> list[str]:
    return list(settings.topics.actions.model_dump().values())


def test_events_are_routed_to_every_action_with_perspective_and_priority(worker, kafka_bootstrap):
    settings, _ = worker()
    publish_lines(settings, lines(
        ads_event(101, "DOS"),  # security CRITICAL, operations CRITICAL
        ads_event(102, "SRVNA"),  # security LOW, operations CRITICAL
        ads_event(103, "SCANS", source="10.1.2.3", targets=["192.168.112.9"]),  # staff -> dmz: CRITICAL
        ads_event(104, "SCANS", source="10.99.0.5", targets="192.168.112.9"),  # guest: HIGH
        ads_event(105, "OTCLANOM"),  # only operations, MEDIUM: below every action
    ))
    # examples/actions.yaml: soc-reports(email, security >= HIGH), soc-tickets(email, security CRITICAL),
    # siem-cef(syslog, security >= LOW),
    # noc-traps(snmp, operations >= HIGH), sms-gateway(script, security CRITICAL),
    # record-attacks(capture, security CRITICAL); noc-weekly is inactive.
    expected = {
        (101, "soc-reports", "CRITICAL"), (101, "siem-cef", "CRITICAL"), (101, "sms-gateway", "CRITICAL"),
        (101, "record-attacks", "CRITICAL"), (101, "noc-traps", "CRITICAL"), (101, "soc-tickets", "CRITICAL"),
        (102, "siem-cef", "LOW"), (102, "noc-traps", "CRITICAL"),
        (103, "soc-reports", "CRITICAL"), (103, "siem-cef", "CRITICAL"), (103, "sms-gateway", "CRITICAL"),
        (103, "record-attacks", "CRITICAL"), (103, "soc-tickets", "CRITICAL"),
        (104, "soc-reports", "HIGH"), (104, "siem-cef", "HIGH"),
    }
    rows = routed(read_topics(kafka_bootstrap, action_topics(settings), len(expected), settle=3.0))
    assert {(r["id"], r["action"], r["priority"]) for r in rows} == expected
    assert len(rows) == len(expected), "every route exactly once"
    by_action = {r["action"]: r for r in rows if r["id"] == 101}
    assert by_action["noc-traps"]["perspective"] == "operations"
    assert by_action["noc-traps"]["perspective_id"] == 2
    assert by_action["noc-traps"]["topic"] == settings.topics.actions.snmp
    assert by_action["soc-reports"]["key"] == "soc-reports|CRITICAL"  # email: per report and priority
    assert by_action["siem-cef"]["key"] == "siem-cef|101"  # other actions: per action and event ID


def test_duplicates_and_updates_are_skipped_also_after_a_restart(worker, isolated_config, kafka_bootstrap):
    config = isolated_config()
    settings, first = worker(config)
    syslog = [settings.topics.actions.syslog]
    publish_lines(settings, lines(ads_event(201, "DOS"), ads_event(201, "DOS"), ads_event(202, "DOS", update=True)))
    assert [r["id"] for r in routed(read_topics(kafka_bootstrap, syslog, 1, settle=3.0))] == [201]

    first.stop()
    worker(config)  # same app ID: resumes the consumer group and recovers the dedup table
    publish_lines(settings, lines(ads_event(201, "DOS"), ads_event(203, "DOS"),
                                  ads_event(203, "DOS", update=True, detail="updated")))
    ids = sorted(r["id"] for r in routed(read_topics(kafka_bootstrap, syslog, 2, settle=3.0)))
    assert ids == [201, 203], "201 replayed after the restart must not be routed again"


def test_bad_input_is_dead_lettered_with_its_reason_while_good_events_are_routed(worker, kafka_bootstrap):
    settings, _ = worker(input={"max_message_bytes": 4096})
    bad = {
        "undecodable": b'{"id": 1, "type": "\xff\xfe"}',
        "invalid_json": b'{"id": 301, "type": "DOS",',
        "not_an_object": b"[301, 302]",
        "missing_field": orjson.dumps({"id": 302, "timestamp": "2025-11-03 15:10:43", "type": "DOS"}),
        "wrong_type": orjson.dumps(ads_event(303, "DOS", targets=7)),
        "unknown_priority": orjson.dumps(ads_event(304, "DOS", priority="URGENT")),
        "control_characters": orjson.dumps(ads_event(305, "DOS", userIdentity="admin\x1b[31m")),
        "oversized": orjson.dumps(ads_event(306, "DOS", detail="x" * 5000)),
        "invalid_value": orjson.dumps(ads_event(307, "DOS", source="not-an-ip")),
    }
    publish_lines(settings, lines(ads_event(310, "DOS"), *bad.values(), ads_event(311, "DOS")))
    dead = read_topics(kafka_bootstrap, [settings.topics.dead_letter], len(bad), settle=2.0)
    assert sorted(r.headers["ads-dlq-reason"] for r in dead) == sorted(bad)
    for record in dead:
        reason = record.headers["ads-dlq-reason"]
        assert record.value == bad[reason], "the original bytes are kept"
        assert record.headers["ads-dlq-source-topic"] == settings.topics.events
        assert int(record.headers["ads-dlq-source-partition"]) in range(settings.kafka.partitions)
        assert int(record.headers["ads-dlq-source-offset"]) >= 0
        assert record.headers["ads-dlq-stage"] == "input"
        assert record.headers["ads-dlq-detail"]
    assert "URGENT" in next(r for r in dead if r.headers["ads-dlq-reason"] == "unknown_priority").headers["ads-dlq-detail"]
    good = routed(read_topics(kafka_bootstrap, [settings.topics.actions.syslog], 2, settle=1.0))
    assert sorted(r["id"] for r in good) == [310, 311]


def test_a_trigger_on_a_foreign_partition_is_routed_once_whatever_its_key(worker, kafka_bootstrap):
    """Producers may key by anything: the router forwards each trigger to its event ID's home
    partition so that duplicate detection, which is partition-local, still sees every copy."""
    settings, _ = worker()
    event_id = 401
    home = home_partition(event_id, settings.kafka.partitions)
    foreign = (home + 1) % settings.kafka.partitions
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "log_level": 0})
    payload = orjson.dumps(ads_event(event_id, "DOS"))
    producer.produce(settings.topics.events, payload, key=b"some-other-key", partition=foreign)
    producer.produce(settings.topics.events, payload, key=b"401", partition=home)
    producer.produce(settings.topics.events, payload, partition=foreign)
    producer.flush(10)
    rows = routed(read_topics(kafka_bootstrap, [settings.topics.actions.syslog], 1, settle=4.0))
    assert [r["id"] for r in rows] == [event_id]
    rehomed = read_topics(kafka_bootstrap, [settings.topics.events_by_id], 2, settle=1.0)
    assert {r.partition for r in rehomed} == {home}
    assert all(r.key == b"401" for r in rehomed)
    # Internal topics carry the validated event as Avro, whatever the input format.
    assert {AvroCodec("ads_actions.AdsEvent").decode(r.value)["id"] for r in rehomed} == {event_id}


def test_ids_events_reach_script_actions_only(worker, isolated_config, kafka_bootstrap):
    import yaml

    from tests.conftest import EXAMPLE_CONFIG

    # The example's security perspective gives IDSP events HIGH, and sms-gateway wants CRITICAL:
    # lower its bar. The other actions (email, syslog, snmp, capture) never act on IDS events.
    base = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    base["actions"]["script"][0]["min_priority"] = "HIGH"
    settings, _ = worker(isolated_config(base=base))
    ids_event = {"id": 502, "firstSeen": "2025-05-15 06:45:56", "lastSeen": "2025-05-15 06:45:57",
                 "srcIp": "10.20.20.20", "dstIp": "10.10.10.10", "signatureName": "ET INFO test"}
    publish_lines(settings, lines(ids_event))
    records = read_topics(kafka_bootstrap, action_topics(settings), 1, settle=3.0)
    assert [r.topic for r in records] == [settings.topics.actions.script]
    message = ROUTED.decode(records[0].value)
    assert message["event"][0] == "ads_actions.IdsEvent"
    assert message["event"][1]["signatureName"] == "ET INFO test"
    assert (message["action"], message["priority"]) == ("sms-gateway", "HIGH")


def test_avro_input_is_routed_like_json(worker, kafka_bootstrap):
    settings, _ = worker(input={"format": "avro"})
    codec = AvroCodec("ads_actions.AdsEvent")
    event = parse_ads_json(orjson.dumps(ads_event(601, "DOS", severity="INFORMATIONAL")), InputLimits())
    producer = producer_for(settings)
    producer.produce(settings.topics.events, codec.encode(ads_event_record(event)), key=b"601")
    producer.produce(settings.topics.events, orjson.dumps(ads_event(602, "DOS")), key=b"602")  # JSON: wrong format
    producer.flush(10)
    rows = routed(read_topics(kafka_bootstrap, [settings.topics.actions.syslog], 1, settle=2.0))
    assert [r["id"] for r in rows] == [601]
    dead = read_topics(kafka_bootstrap, [settings.topics.dead_letter], 1, settle=1.0)
    assert [r.headers["ads-dlq-reason"] for r in dead] == ["invalid_avro"]
