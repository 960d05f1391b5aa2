"""The capture settings and actions: what a valid configuration looks like, the errors of an
invalid one, the notes of check-config, and the capture agent's own file."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from streams.capture_agent.config_file import load_agent_settings, offset_beyond_ttl_notes
from streams.capture_agent.records import capture_id_of, parse_capture_id
from streams.config import ConfigError, parse_settings

PERSPECTIVES = {"security": {"id": 1, "rules": [{"types": ["DOS"], "priority": "CRITICAL"}]}}
CAPTURE = {"token": "0123456789abcdef", "interfaces": {"eth1": {"ttl": "10m", "max_disk": "2GB"}},
           "groups": {"dmz": {"id": 3, "interfaces": ["eth1"]}}}


def settings_text(capture: dict | None = CAPTURE, **action: object) -> str:
    document = {"perspectives": PERSPECTIVES,
                "actions": {"capture": [{"name": "rec", "perspective": "security", "group": 3, **action}]}}
    if capture is not None:
        document["capture"] = capture
    return yaml.safe_dump(document)


def messages(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_settings(text)
    return [f"{issue.path}: {issue.message}" for issue in raised.value.issues]


def test_a_local_capture_action_with_its_settings_is_valid():
    settings = parse_settings(settings_text(live_recording_duration="2m", recording_start_offset="5m"))
    [action] = settings.actions.capture
    assert (action.agent, action.group, action.live_recording_duration, action.recording_start_offset) == (
        "local", 3, 120.0, 300.0)
    assert settings.capture.interfaces["eth1"].max_disk == 2_000_000_000
    assert settings.capture.group_by_id(3).interfaces == ["eth1"]
    assert "0123456789abcdef" not in repr(settings.capture)


def test_a_remote_agent_needs_a_url_and_a_token():
    settings = parse_settings(settings_text(agent={"url": "https://sensor-1:9465", "token": "t" * 20,
                                                   "ca_file": "/etc/ca.pem"}, group=9))
    assert settings.actions.capture[0].agent.url == "https://sensor-1:9465"
    assert any("agent" in m for m in messages(settings_text(agent={"url": "sensor-1:9465", "token": "x" * 20})))


def test_capture_actions_need_the_capture_section():
    assert messages(settings_text(capture=None)) == [
        "capture: expected a capture section (token, listen; interfaces and groups for agent: local) since "
        "actions.capture is used, found none"]


def test_a_local_action_must_name_a_configured_group():
    assert messages(settings_text(group=4)) == [
        "actions.capture.0.group: expected the id of one of capture.groups (3 (dmz)), found 4"]


@pytest.mark.parametrize("change, expected", [
    ({"token": "short"}, "capture.token: expected a token of at least 16 characters, found a shorter one"),
    ({"groups": {"dmz": {"id": 3, "interfaces": ["eth9"]}}},
     "capture: groups.dmz.interfaces: expected names of capture.interfaces (eth1), found eth9"),
    ({"groups": {"a": {"id": 3, "interfaces": ["eth1"]}, "b": {"id": 3, "interfaces": ["eth1"]}}},
     "capture: groups.b.id: expected a unique group id, found 3 also used by 'a'"),
    ({"interfaces": {"-i": {}}}, "capture.interfaces.-i.[key]: "),
    ({"interfaces": {"eth1": {"max_disk": "lots"}}},
     "capture.interfaces.eth1.max_disk: expected a size such as 500MB or 2GiB, found 'lots'"),
])
def test_invalid_capture_settings_are_reported(change, expected):
    found = messages(settings_text(capture={**CAPTURE, **change}))
    assert any(message.startswith(expected) for message in found), found


def test_an_offset_beyond_the_ttl_is_a_note_of_check_config(tmp_path):
    settings = parse_settings(settings_text(recording_start_offset="1h"))
    assert offset_beyond_ttl_notes(settings) == [(
        "actions.capture.0.recording_start_offset",
        "3600 s exceeds the TTL 600 s of interface eth1 (capture.interfaces.eth1.ttl): increase the ttl, or the "
        "captures miss their earliest packets")]
    path = tmp_path / "config.yaml"
    path.write_text(settings_text(recording_start_offset="1h"))
    result = subprocess.run([sys.executable, "-m", "streams.cli", "check-config", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "recording_start_offset: note: 3600 s exceeds the TTL 600 s" in result.stderr


def test_the_agent_file_needs_only_the_capture_section(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"capture": CAPTURE, "metrics": {"port": 9999}, "kafka": {"whatever": 1}}))
    agent_file = load_agent_settings(path)
    assert (agent_file.capture.groups["dmz"].id, agent_file.metrics.port) == (3, 9999)
    path.write_text("capture:\n  token: short\n")
    with pytest.raises(ConfigError) as raised:
        load_agent_settings(path)
    assert [(i.path, i.line) for i in raised.value.issues] == [("capture.token", 2)]


@pytest.mark.parametrize("text", ["1-1/../x", "../1-1", "1-1 ", "-1-1", "1", "a-b", "1-1-1", "1" * 20 + "-1"])
def test_capture_ids_are_digits_only(text):
    assert parse_capture_id(text) is None


def test_capture_ids_round_trip():
    assert parse_capture_id(capture_id_of(12345, 7)) == (12345, 7)
