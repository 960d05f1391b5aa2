"""TriggerProcessor.process: dead-lettering with headers, rehoming to the event ID's home partition,
skipping updates and duplicates, routed outputs and metrics; and, by property test, that no input
whatsoever makes it raise."""

from __future__ import annotations

from dataclasses import replace
from textwrap import dedent

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streams.avro_codec import AvroCodec, ads_event_record, ids_event_record
from streams.config import ENV_BOOTSTRAP, ENV_METRICS_PORT, parse_settings
from streams.deadletter import MAX_PAYLOAD_BYTES, headers_dict
from streams.events import REASONS, InputLimits, ads_event_from_mapping, parse_ads_json, parse_ids_json
from streams.metrics import RouterMetrics
from streams.routing import Router
from streams.triggers import ADS, IDS, InputMessage, TriggerProcessor, event_key, home_partition

from .event_strategies import ads_objects, ids_objects, json_values, valid_ads_objects, valid_ids_objects

NOW = 1_747_235_428.0  # 2025-05-14 15:10:28 UTC
PARTITIONS = 4
CONFIG = dedent("""\
    kafka: {partitions: 4}
    input: {dedup_retention: 1h, max_message_bytes: 2048, max_targets: 4}
    filters:
      dmz: [192.168.200.0/24]
    perspectives:
      security:
        id: 1
        rules:
          - {types: [DOS], priority: CRITICAL}
          - {types: [SCANS], priority: HIGH}
          - {types: [SCANS], priority: CRITICAL, target: dmz}
          - {types: [IDSP], priority: HIGH}
      operations:
        id: 2
        rules:
          - {types: [DOS], priority: MEDIUM}
    snmp:
      target_groups:
        noc: [{address: 127.0.0.1}]
    actions:
      email:
        - {name: soc-mail, perspective: security, min_priority: HIGH, recipients: [soc@example.org]}
      syslog:
        - {name: siem, perspective: security, min_priority: LOW}
      snmp:
        - {name: noc-traps, perspective: operations, min_priority: MEDIUM, target_groups: [noc]}
      script:
        - {name: sms, perspective: security, min_priority: CRITICAL, script: sms.sh}
""")


def settings_of(text: str):
    # Also used at import time, before any fixture has cleared the environment's overrides.
    with pytest.MonkeyPatch.context() as environment:
        environment.delenv(ENV_BOOTSTRAP, raising=False)
        environment.delenv(ENV_METRICS_PORT, raising=False)
        return parse_settings(text)


SETTINGS = settings_of(CONFIG)
ROUTER = Router(SETTINGS)
# One partition: every message is on its home partition, so random valid events get routed.
SINGLE = settings_of(CONFIG.replace("partitions: 4", "partitions: 1"))


class Harness:
    """A processor with its own metrics registry (prometheus_client refuses duplicate metric names
    on one registry, and counts must not leak between tests)."""

    def __init__(self, kind: str = ADS, settings=SETTINGS, router=ROUTER, now: float = NOW):
        self.registry = CollectorRegistry()
        self.processor = TriggerProcessor(settings, router, RouterMetrics(self.registry), kind, clock=lambda: now)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def total(self, name: str) -> float:
        return sum(sample.value for metric in self.registry.collect() for sample in metric.samples
                   if sample.name == name)


def ads_json(event_id: int = 1, type_: str = "SCANS", **fields) -> bytes:
    return orjson.dumps({"id": event_id, "timestamp": "2025-05-14 15:10:28", "type": type_, "source": "10.1.1.1",
                         **fields})


def ids_json(event_id: int = 1, **fields) -> bytes:
    return orjson.dumps({"id": event_id, "firstSeen": "2025-05-15 06:45:56", "lastSeen": "2025-05-15 06:45:56",
                         "srcIp": "10.20.20.20", "dstIp": "10.10.10.10", "signatureName": "ET INFO test", **fields})


ADS_CODEC = AvroCodec("ads_actions.AdsEvent")
IDS_CODEC = AvroCodec("ads_actions.IdsEvent")
_ANY_SIZE = InputLimits(max_message_bytes=16 * 1024 * 1024)


def internal(json_value: bytes) -> bytes:
    """What the by-ID topics carry: the validated event, Avro-encoded."""
    if "srcIp" in orjson.loads(json_value):
        return IDS_CODEC.encode(ids_event_record(parse_ids_json(json_value, _ANY_SIZE)))
    return ADS_CODEC.encode(ads_event_record(parse_ads_json(json_value, _ANY_SIZE)))


def at_home(value: bytes | None, event_id: int, topic: str = "ads.events", offset: int = 0) -> InputMessage:
    return InputMessage(topic, home_partition(event_id, PARTITIONS), offset, event_key(event_id), value)


def away(event_id: int) -> int:
    return (home_partition(event_id, PARTITIONS) + 1) % PARTITIONS


# --- partitioning ----------------------------------------------------------------------------------

@pytest.mark.parametrize("event_id", [0, 1, 2, 42, 123456, 2**63 - 1])
def test_home_partition_is_what_kafkas_default_partitioner_gives_the_key(event_id):
    # The by-id topic is co-partitioned with the dedup table only if we agree with producers.
    for partitions in (1, 4, 12):
        expected = DefaultPartitioner()(event_key(event_id), list(range(partitions)), list(range(partitions)))
        assert home_partition(event_id, partitions) == expected
    assert event_key(event_id) == str(event_id).encode()


# --- routed triggers ---------------------------------------------------------------------------------

def test_trigger_on_its_home_partition_is_routed_to_every_reached_action():
    h = Harness()
    result = h.processor.process([at_home(ads_json(7, "DOS"), 7)], {})
    assert result.routed == [(0, "7")]
    by_topic = {out.topic: out for out in result.outgoing}
    # DOS: CRITICAL in security (email, syslog, script), MEDIUM in operations (snmp).
    assert sorted(by_topic) == ["ads.action.email", "ads.action.script", "ads.action.snmp", "ads.action.syslog"]
    assert by_topic["ads.action.email"].key == b"soc-mail|CRITICAL"
    assert by_topic["ads.action.script"].key == b"sms|7"
    assert by_topic["ads.action.snmp"].key == b"noc-traps|7"
    assert all(out.partition is None and out.headers is None for out in result.outgoing)
    codec = AvroCodec("ads_actions.RoutedAction")
    snmp = codec.decode(by_topic["ads.action.snmp"].value)
    assert (snmp["action"], snmp["kind"], snmp["perspective"], snmp["perspectiveId"], snmp["priority"]) == (
        "noc-traps", "snmp", "operations", 2, "MEDIUM")
    assert snmp["routedAt"].timestamp() == NOW
    name, event = snmp["event"]
    assert (name, event["id"], event["type"], event["source"]) == ("ads_actions.AdsEvent", 7, "DOS", "10.1.1.1")
    # Metrics: one consumed, per-perspective match, one routed message per action.
    assert h.metric("ads_actions_events_consumed_total", topic="ads.events") == 1
    assert h.metric("ads_actions_perspective_matches_total", perspective="security", priority="CRITICAL") == 1
    assert h.metric("ads_actions_perspective_matches_total", perspective="operations", priority="MEDIUM") == 1
    assert h.metric("ads_actions_routed_total", perspective="security", priority="CRITICAL", action="sms",
                    kind="script") == 1
    assert h.total("ads_actions_routed_total") == 4
    assert h.total("ads_actions_dead_letters_total") == 0


def test_overlapping_rule_raises_the_priority_of_routed_messages():
    h = Harness()
    result = h.processor.process([at_home(ads_json(3, targets=["192.168.200.7"]), 3)], {})
    assert sorted(out.key for out in result.outgoing) == [b"siem|3", b"sms|3", b"soc-mail|CRITICAL"]


def test_trigger_that_reaches_no_action_is_counted_and_still_recorded():
    h = Harness()
    result = h.processor.process([at_home(ads_json(5, "VOIP"), 5)], {})
    assert result.outgoing == []
    # Recorded all the same: a replay of it must not be evaluated as new either.
    assert result.routed == [(0, "5")]
    assert h.metric("ads_actions_events_without_action_total") == 1
    assert h.metric("ads_actions_perspective_matches_total", perspective="security", priority="none") == 1


def test_ids_events_reach_only_script_actions_and_use_the_ids_by_id_topic():
    h = Harness(IDS)
    home = at_home(ids_json(11), 11, topic="ids.events")
    result = h.processor.process([home], {})
    # IDSP is HIGH in security: the script's CRITICAL minimum is not reached, and the email/syslog
    # actions never get IDS events.
    assert result.outgoing == [] and result.routed == [(0, "11")]
    stray = InputMessage("ids.events", away(11), 4, None, ids_json(11))
    result = h.processor.process([stray], {})
    assert [(o.topic, o.partition, o.key, o.value) for o in result.outgoing] == [
        ("ids.events.by-id", home_partition(11, PARTITIONS), b"11", internal(ids_json(11)))]


def test_ids_events_routed_to_scripts():
    config = CONFIG.replace("{name: sms, perspective: security, min_priority: CRITICAL, script: sms.sh}",
                            "{name: sms, perspective: security, min_priority: HIGH, script: sms.sh}")
    settings = settings_of(config)
    h = Harness(IDS, settings, Router(settings))
    result = h.processor.process([at_home(ids_json(12), 12, topic="ids.events")], {})
    assert [(o.topic, o.key) for o in result.outgoing] == [("ads.action.script", b"sms|12")]
    name, event = AvroCodec("ads_actions.RoutedAction").decode(result.outgoing[0].value)["event"]
    assert (name, event["srcIp"], event["dstIp"]) == ("ads_actions.IdsEvent", "10.20.20.20", "10.10.10.10")


# --- dead letters --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, reason", [
    (b"\xff\xfe", "undecodable"),
    (b"{not json", "invalid_json"),
    (b"[1, 2]", "not_an_object"),
    (orjson.dumps({"timestamp": "2025-05-14 15:10:28", "type": "DOS", "source": "10.0.0.1"}), "missing_field"),
    (ads_json(1, priority="URGENT"), "unknown_priority"),
    (ads_json(1, subtype="a\x00b"), "control_characters"),
    (ads_json(1, targets=["10.0.0.1"] * 5), "too_many_targets"),
    (None, "undecodable"),
])
def test_invalid_input_is_dead_lettered_with_why_and_where_from(value, reason):
    h = Harness()
    message = InputMessage("ads.events", 3, 1234, b"the-key", value)
    result = h.processor.process([message], {})
    assert result.routed == []
    [out] = result.outgoing
    assert (out.topic, out.key, out.value, out.partition) == ("ads.dead-letter", b"the-key", value or b"", None)
    headers = headers_dict(out.headers)
    assert headers["ads-dlq-reason"] == reason
    assert headers["ads-dlq-stage"] == "input"
    assert headers["ads-dlq-source-topic"] == "ads.events"
    assert headers["ads-dlq-source-partition"] == "3"
    assert headers["ads-dlq-source-offset"] == "1234"
    assert headers["ads-dlq-time"] == "2025-05-14T15:10:28.000+00:00"
    assert headers["ads-dlq-detail"]  # names the field and what was expected
    assert "ads-dlq-truncated-from" not in headers
    assert h.metric("ads_actions_dead_letters_total", reason=reason) == 1


def test_dead_letter_detail_is_the_validation_message():
    h = Harness()
    result = h.processor.process([InputMessage("ads.events", 0, 0, None, ads_json(1, id="x"))], {})
    assert headers_dict(result.outgoing[0].headers)["ads-dlq-detail"] == "field 'id': expected an integer, found str 'x'"


def test_oversized_input_is_dead_lettered_whole():
    h = Harness()
    value = ads_json(1, detail="x" * 5000)
    result = h.processor.process([InputMessage("ads.events", 0, 9, None, value)], {})
    [out] = result.outgoing
    headers = headers_dict(out.headers)
    assert headers["ads-dlq-reason"] == "oversized"
    assert headers["ads-dlq-detail"] == (f"message of {len(value)} bytes exceeds the limit of 2048 bytes "
                                         "(input.max_message_bytes)")
    assert out.value == value
    assert "ads-dlq-truncated-from" not in headers


def test_input_too_large_for_the_broker_is_dead_lettered_cut_saying_so():
    h = Harness()
    value = b"x" * (MAX_PAYLOAD_BYTES + 10)
    [out] = h.processor.process([InputMessage("ads.events", 0, 9, None, value)], {}).outgoing
    headers = headers_dict(out.headers)
    assert (headers["ads-dlq-reason"], headers["ads-dlq-truncated-from"]) == ("oversized", str(len(value)))
    assert out.value == value[:MAX_PAYLOAD_BYTES]


# --- rehoming ----------------------------------------------------------------------------------------

def test_trigger_on_another_partition_is_forwarded_to_its_home_partition_of_the_by_id_topic():
    h = Harness()
    value = ads_json(42, "DOS")
    result = h.processor.process([InputMessage("ads.events", away(42), 0, b"producer-key", value)], {})
    [out] = result.outgoing
    assert (out.topic, out.key, out.partition) == ("ads.events.by-id", b"42", home_partition(42, PARTITIONS))
    # The forwarded message is the validated event, Avro-encoded, not the producer's bytes.
    assert out.value == internal(value)
    assert ads_event_from_mapping(ADS_CODEC.decode(out.value), InputLimits()) == parse_ads_json(value, InputLimits())
    assert result.routed == []  # routed once it arrives at home
    assert h.metric("ads_actions_events_rehomed_total", topic="ads.events") == 1


def test_messages_on_the_by_id_topic_are_not_forwarded_again():
    h = Harness()
    result = h.processor.process([InputMessage("ads.events.by-id", away(42), 0, b"42", internal(ads_json(42, "DOS")))],
                                 {})
    assert result.routed == [(0, "42")]
    assert all(out.topic.startswith("ads.action.") for out in result.outgoing)
    assert h.total("ads_actions_events_rehomed_total") == 0


def test_updates_are_skipped_wherever_they_arrive_without_forwarding():
    h = Harness()
    result = h.processor.process([InputMessage("ads.events", away(8), 0, None, ads_json(8, update=True))], {})
    assert result.outgoing == [] and result.routed == []
    assert h.metric("ads_actions_events_skipped_total", reason="update") == 1


def test_by_id_topic_refuses_what_is_not_internal_avro():
    h = Harness()
    result = h.processor.process([InputMessage("ads.events.by-id", 0, 0, None, ads_json(42, "DOS"))], {})
    assert [headers_dict(o.headers)["ads-dlq-reason"] for o in result.outgoing] == ["invalid_avro"]


# --- updates and duplicates ------------------------------------------------------------------------

def test_updates_are_skipped():
    h = Harness()
    result = h.processor.process([at_home(ads_json(9, "DOS", update=True), 9)], {})
    assert result.outgoing == [] and result.routed == []
    assert h.metric("ads_actions_events_skipped_total", reason="update") == 1


def test_duplicate_in_one_batch_is_skipped():
    h = Harness()
    messages = [at_home(ads_json(9, "DOS"), 9, offset=0), at_home(ads_json(9, "DOS"), 9, offset=1),
                at_home(ads_json(10, "DOS"), 10, offset=2)]
    result = h.processor.process(messages, {})
    assert result.routed == [(0, "9"), (2, "10")]
    assert len(result.outgoing) == 8  # 4 actions per DOS event, twice
    assert h.metric("ads_actions_events_skipped_total", reason="duplicate") == 1


def test_already_routed_id_within_retention_is_skipped():
    h = Harness()
    result = h.processor.process([at_home(ads_json(9, "DOS"), 9)], {"9": NOW - 3599})
    assert result.outgoing == [] and result.routed == []
    assert h.metric("ads_actions_events_skipped_total", reason="duplicate") == 1


@pytest.mark.parametrize("age", [3600, 3601, 86400])
def test_routed_entry_older_than_the_retention_no_longer_counts(age):
    h = Harness()
    result = h.processor.process([at_home(ads_json(9, "DOS"), 9)], {"9": NOW - age})
    assert result.routed == [(0, "9")]
    assert len(result.outgoing) == 4
    assert h.total("ads_actions_events_skipped_total") == 0


def test_routed_ids_of_other_events_do_not_matter():
    h = Harness()
    assert h.processor.process([at_home(ads_json(9, "DOS"), 9)], {"90": NOW, "19": NOW}).routed == [(0, "9")]


def test_mixed_batch_accounts_for_every_message_in_order():
    h = Harness()
    messages = [
        at_home(ads_json(1, "DOS"), 1, offset=10),
        InputMessage("ads.events", 0, 11, None, b"garbage"),
        InputMessage("ads.events", away(2), 12, None, ads_json(2, "DOS")),
        at_home(ads_json(3, "DOS", update=True), 3, offset=13),
        at_home(ads_json(4, "SCANS"), 4, offset=14),
        at_home(ads_json(1, "DOS"), 1, offset=15),
    ]
    result = h.processor.process(messages, {})
    assert result.routed == [(0, "1"), (4, "4")]
    topics = [out.topic for out in result.outgoing]
    assert topics.count("ads.dead-letter") == 1 and topics.count("ads.events.by-id") == 1
    assert h.metric("ads_actions_events_consumed_total", topic="ads.events") == 6
    assert h.total("ads_actions_events_skipped_total") == 2


# --- Avro input ----------------------------------------------------------------------------------

def test_avro_input_is_validated_and_routed_like_json():
    settings = settings_of(CONFIG.replace("input: {", "input: {format: avro, "))
    h = Harness(ADS, settings, Router(settings))
    codec = AvroCodec("ads_actions.AdsEvent")
    event = parse_ads_json(ads_json(21, "DOS"), InputLimits())
    good = codec.encode(ads_event_record(event))
    messages = [
        at_home(good, 21),
        InputMessage("ads.events", 0, 1, None, good[:-3]),
        InputMessage("ads.events", 0, 2, None, ads_json(22)),  # JSON on an Avro topic
        InputMessage("ads.events", 0, 3, None, good + b"x" * 3000),
        InputMessage("ads.events", 0, 4, None, codec.encode({**ads_event_record(event), "source": "nope"})),
    ]
    result = h.processor.process(messages, {})
    assert result.routed == [(0, "21")]
    reasons = [headers_dict(o.headers)["ads-dlq-reason"] for o in result.outgoing if o.topic == "ads.dead-letter"]
    assert reasons == ["invalid_avro", "invalid_avro", "oversized", "invalid_value"]


# --- property: process never raises --------------------------------------------------------------

_values = st.one_of(
    st.none(),
    st.binary(max_size=200),
    json_values.map(orjson.dumps),
    ads_objects.map(orjson.dumps),
    ids_objects.map(orjson.dumps),
    # Valid events twice over: routing, deduplication and encoding are reached more often.
    valid_ads_objects.map(orjson.dumps),
    valid_ids_objects.map(orjson.dumps),
    valid_ads_objects.map(orjson.dumps),
    valid_ids_objects.map(orjson.dumps),
    # The by-ID topics' own format: valid internal messages and corrupt ones.
    st.one_of(valid_ads_objects, valid_ids_objects).map(lambda obj: internal(orjson.dumps(obj))),
    st.binary(max_size=100).map(lambda body: ADS_CODEC.prefix + body),
)
_messages = st.lists(
    st.builds(InputMessage, topic=st.sampled_from(["ads.events", "ads.events.by-id", "ids.events", "ids.events.by-id"]),
              partition=st.integers(0, PARTITIONS - 1), offset=st.integers(0, 2**63 - 1),
              key=st.one_of(st.none(), st.binary(max_size=8)), value=_values),
    max_size=6)
_routed_ids = st.dictionaries(st.integers(0, 50).map(str), st.floats(NOW - 7200, NOW + 10), max_size=5)


# 200 batches of up to 6 messages: over a thousand messages per run.
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=_messages, routed_ids=_routed_ids, kind=st.sampled_from([ADS, IDS]), single=st.booleans())
def test_process_never_raises_and_accounts_for_every_message(messages, routed_ids, kind, single):
    # Offsets are the positions, so dead letters can be traced back to their message.
    messages = [replace(message, offset=index, partition=0 if single else message.partition)
                for index, message in enumerate(messages)]
    h = Harness(kind, SINGLE, ROUTER) if single else Harness(kind)
    result = h.processor.process(messages, routed_ids)   # must not raise, whatever the input
    dead = [o for o in result.outgoing if o.topic == "ads.dead-letter"]
    by_id = "ads.events.by-id" if kind == ADS else "ids.events.by-id"
    rehomed = [o for o in result.outgoing if o.topic == by_id]
    routed = [o for o in result.outgoing if o.topic.startswith("ads.action.")]
    assert len(dead) + len(rehomed) + len(routed) == len(result.outgoing)
    skipped = h.total("ads_actions_events_skipped_total")
    for outcome, count in (("dead-lettered", dead), ("forwarded", rehomed), ("routed", result.routed)):
        event(f"some {outcome}: {bool(count)}")  # visible with --hypothesis-show-statistics
    # Every message is exactly one of: dead-lettered, forwarded home, skipped, or routed.
    assert len(dead) + len(rehomed) + skipped + len(result.routed) == len(messages)
    assert h.total("ads_actions_events_consumed_total") == len(messages)
    assert h.total("ads_actions_dead_letters_total") == len(dead)
    assert h.total("ads_actions_events_rehomed_total") == len(rehomed)
    assert h.total("ads_actions_routed_total") == len(routed)
    for out in dead:
        headers = headers_dict(out.headers)
        assert headers["ads-dlq-reason"] in REASONS
        message = messages[int(headers["ads-dlq-source-offset"])]
        assert (out.key, out.value) == (message.key, message.value or b"")
    for out in rehomed:
        assert not single
        assert out.partition is not None and 0 <= out.partition < PARTITIONS
    # Routed dedup keys are unique and none was routed within the retention already.
    keys = [key for _, key in result.routed]
    assert len(keys) == len(set(keys))
    assert not any(NOW - routed_ids[key] < 3600 for key in keys if key in routed_ids)
    codec = AvroCodec("ads_actions.RoutedAction")
    for out in routed:
        decoded = codec.decode(out.value)
        assert decoded["kind"] == out.topic.rsplit(".", 1)[1]
        if kind == IDS:
            assert decoded["kind"] == "script"
