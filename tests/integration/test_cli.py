"""The command line as a user runs it: check-config, route-test, broker."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from confluent_kafka.admin import AdminClient

from streams.broker import free_port, wait_until_ready
from tests.conftest import EXAMPLE_CONFIG, REPO

EVENTS = REPO / "examples" / "events"


def ads_actions(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=env)


def test_check_config_accepts_the_example():
    result = ads_actions("check-config", str(EXAMPLE_CONFIG))
    assert result.returncode == 0, result.stderr
    assert "valid (5 filters, 2 perspectives, 7 actions)" in result.stdout


def test_check_config_notes_event_types_ads_does_not_emit(tmp_path: Path):
    config = tmp_path / "typo.yaml"
    config.write_text("perspectives:\n  p:\n    id: 1\n    rules:\n      - {types: [SCANS, SACNS, IDSP], priority: LOW}\n")
    result = ads_actions("check-config", str(config))
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"{config}: perspectives.p.rules.0.types: note: 'SACNS' is not a detection method ADS 13.0 emits; "
        "the rule matches only if ADS sends it"]


def test_check_config_prints_every_error_with_file_path_expected_and_found(tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "kafka:\n"
        "  partitions: zero\n"
        "filters:\n"
        "  loop_a: {union: [loop_b]}\n"
        "  loop_b: {not: loop_a}\n"
        "  lan: [10.0.0.0/33]\n"
        "perspectives:\n"
        "  security:\n"
        "    id: 1\n"
        "    rules:\n"
        "      - types: [SCANS]\n"
        "        priority: URGENT\n"
        "        source: nowhere\n"
        "actions:\n"
        "  syslog:\n"
        "    - name: siem\n"
        "      perspective: secuirty\n"
        "      colour: red\n"
        "    - name: siem\n"
        "      perspective: security\n"
    )
    result = ads_actions("check-config", str(broken))
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    expected = [
        f"{broken}: kafka.partitions: expected a valid integer, unable to parse string as an integer, found 'zero' (line 2)",
        f"{broken}: filters.lan.networks: item 0: expected an address, CIDR network or range a-b, found '10.0.0.0/33'",
        f"{broken}: perspectives.security.rules.0.priority: expected one of CRITICAL, HIGH, MEDIUM, LOW, "
        "INFORMATION (or INFORMATIONAL), found 'URGENT' (line 12)",
        f"{broken}: actions.syslog.0.colour: expected no such setting (misspelt?), found 'colour' (line 18)",
        f"{broken}: filters.loop_b.not: expected filters without cycles, found the cycle loop_a -> loop_b -> loop_a",
        f"{broken}: perspectives.security.rules.0.source: expected the name of a filter (lan, loop_a, loop_b), "
        "found 'nowhere' (line 13)",
        f"{broken}: actions.syslog.0.perspective: expected the name of a perspective (security), found 'secuirty' (line 17)",
        f"{broken}: actions.syslog.1.name: expected a unique action name, found 'siem' also used at actions.syslog.0 (line 19)",
    ]
    for line in expected:
        assert any(error.startswith(line) for error in errors), f"missing: {line}\ngot:\n" + "\n".join(errors)
    assert len(errors) == len(expected)


def test_check_config_reports_yaml_syntax_and_duplicate_keys(tmp_path: Path):
    duplicated = tmp_path / "dup.yaml"
    duplicated.write_text("perspectives:\n  a: {id: 1, rules: [{types: [DOS], priority: LOW}]}\n"
                          "  a: {id: 2, rules: [{types: [DOS], priority: LOW}]}\n")
    result = ads_actions("check-config", str(duplicated))
    assert result.returncode == 1
    assert result.stderr.strip() == f"{duplicated}: (yaml): expected valid YAML, found expected unique keys, found 'a' twice (line 3)"


def test_environment_overrides_the_metrics_port_and_says_so_when_invalid(tmp_path: Path):
    import os

    result = ads_actions("check-config", str(EXAMPLE_CONFIG), env={**os.environ, "ADS_ACTIONS_METRICS_PORT": "http"})
    assert result.returncode == 1
    assert "metrics.port (from $ADS_ACTIONS_METRICS_PORT): expected a port number, found 'http'" in result.stderr


def test_route_test_prints_priority_and_actions_per_perspective():
    result = ads_actions("route-test", "-c", str(EXAMPLE_CONFIG), str(EVENTS / "staff-scanning-dmz.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "event 5102360 (SCANS, source 10.1.4.20):",
        "  security: CRITICAL -> soc-reports (email), soc-tickets (email), siem-cef (syslog), sms-gateway (script), "
        "record-attacks (capture)",
        "  operations: MEDIUM -> no action (none active at this priority)",
    ]


def test_route_test_json_for_sample_events():
    expected = {
        "dos-attack.json": {"security": {"priority": "CRITICAL",
                                         "actions": ["soc-reports", "soc-tickets", "siem-cef", "sms-gateway",
                                                     "record-attacks"]},
                            "operations": {"priority": "CRITICAL", "actions": ["noc-traps"]}},
        "ot-anomaly.json": {"security": {"priority": None, "actions": []},
                            "operations": {"priority": "MEDIUM", "actions": []}},
        "ids-event.json": {"security": {"priority": "HIGH", "actions": []},
                           "operations": {"priority": None, "actions": []}},
    }
    for name, perspectives in expected.items():
        result = ads_actions("route-test", "-c", str(EXAMPLE_CONFIG), "--json", str(EVENTS / name))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"perspectives": perspectives}, name


def test_route_test_rejects_an_invalid_event_with_its_reason(tmp_path: Path):
    event = tmp_path / "bad.json"
    event.write_text('{"id": 1, "timestamp": "2025-11-03 15:10:43", "type": "DOS", "source": "10.0.0.1", "priority": "URGENT"}')
    result = ads_actions("route-test", "-c", str(EXAMPLE_CONFIG), str(event))
    assert result.returncode == 1
    assert "invalid event (unknown_priority): field 'priority'" in result.stderr


def test_broker_command_serves_kafka_and_stops_cleanly_on_sigterm():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "streams.cli", "broker", "--port", str(port)],
                               stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert "broker ready on 127.0.0.1:" in process.stderr.readline()
        wait_until_ready(f"127.0.0.1:{port}", timeout=10)
        assert AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"}).list_topics(timeout=10).brokers
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_publish_sends_ads_and_ids_events_to_their_topics_keyed_by_event_id(isolated_config, kafka_bootstrap,
                                                                           tmp_path: Path):
    from streams.config import load_settings
    from streams.triggers import home_partition
    from tests.kafka_helpers import read_topics

    config = isolated_config()
    settings = load_settings(config)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(json.dumps(json.loads((EVENTS / name).read_text())).encode()
                                  for name in ("dos-attack.json", "ids-event.json", "ot-anomaly.json"))
                       + b"\nnot json at all\n\n")
    result = ads_actions("publish", "-c", str(config), "--rate", "100", str(events))
    assert result.returncode == 0, result.stderr
    assert "published 2 ADS and 1 IDS events, and 1 lines that are not JSON objects" in result.stderr
    records = read_topics(kafka_bootstrap, [settings.topics.events, settings.topics.ids_events], 4, settle=1.0)
    keyed = {(r.topic, r.key, r.partition) for r in records if r.key is not None}
    assert keyed == {
        (settings.topics.events, b"5102353", home_partition(5102353, settings.kafka.partitions)),
        (settings.topics.events, b"5102371", home_partition(5102371, settings.kafka.partitions)),
        (settings.topics.ids_events, b"123456", home_partition(123456, settings.kafka.partitions)),
    }
    # A line that is not an event still goes to the ADS topic: the router dead-letters it.
    assert [(r.topic, r.value) for r in records if r.key is None] == [(settings.topics.events, b"not json at all")]
