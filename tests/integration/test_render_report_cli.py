"""`ads-actions render-report` as a user runs it: a configuration, a file of events, the mails printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO
from tests.report_samples import catalogue_detail

SCAN = {"id": 5102353, "timestamp": "2026-11-22 16:03:00", "firstFlow": "2026-11-22 15:58:00", "type": "SCANS",
        "typeDesc": "Port scanning", "detail": catalogue_detail("SCANS", 1), "source": "10.0.0.5",
        "targets": ["192.168.112.10", "192.168.112.11"], "port": "22", "protocol": "TCP", "netFlowSource": "Default",
        "flows": [{"src": "10.0.0.5", "dst": "192.168.112.10", "dport": "22"}]}
DOS = {**json.loads((REPO / "examples" / "events" / "dos-attack.json").read_text()),
       "timestamp": "2026-11-22 16:10:00", "firstFlow": "2026-11-22 16:05:00"}
IDS = {"id": 9, "firstSeen": "2026-11-22 16:00:00", "lastSeen": "2026-11-22 16:00:01", "srcIp": "10.0.0.1",
       "dstIp": "10.0.0.2", "signatureName": "ET SCAN"}
LOW = {**SCAN, "id": 5102399, "type": "HIGHTRANSF", "typeDesc": "", "detail": catalogue_detail("HIGHTRANSF")}


def write_files(tmp_path: Path, report: dict, lines: list) -> tuple[Path, Path]:
    config = {
        "email": {"timezone": "Europe/Prague", "links": {"event": "https://ads.example.org/events/{id}"}},
        "perspectives": {"security": {"id": 1, "rules": [{"types": ["DOS"], "priority": "CRITICAL"},
                                                         {"types": ["SCANS"], "priority": "HIGH"},
                                                         {"types": ["HIGHTRANSF"], "priority": "LOW"}]}},
        "actions": {"email": [{"name": "soc-reports", "perspective": "security", "recipients": ["soc@example.org"],
                               "min_priority": "HIGH", **report}]},
    }
    config_path, events_path = tmp_path / "actions.yaml", tmp_path / "events.jsonl"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    events_path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return config_path, events_path


def render_report(config: Path, events: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", "render-report", "-c", str(config),
                           "--report", "soc-reports", *options, str(events)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def test_render_report_prints_every_mail_with_headers_and_parts(tmp_path: Path):
    config, events = write_files(tmp_path, {"format": "full", "active_links": True},
                                 [SCAN, DOS, LOW, IDS, "{not json", {**SCAN, "id": 5102360, "update": True}])
    result = render_report(config, events)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    # CRITICAL first; LOW is under the report's min_priority.
    assert out[0] == "==== mail 1 of 2 ===="
    assert "Subject: [ADS] CRITICAL report soc-reports: 1 event (1 DOS), 2026-11-22 17:10:00 CET" in out
    assert "==== mail 2 of 2 ====" in out
    assert "Subject: [ADS] HIGH hourly report soc-reports: 1 event (1 SCANS), 2026-11-22 17:00-18:00 CET" in out
    assert "To: soc@example.org" in out and "X-ADS-Actions-Format: full" in out
    assert out.count("---- part text/plain ----") == 2 and out.count("---- part text/html ----") == 2
    assert '<tr><td><a href="https://ads.example.org/events/5102353">5102353</a></td><td>2026-11-22 17:03:00</td>' \
        in result.stdout
    assert "5102399" not in result.stdout
    assert "line 4: an IDS event; reports list ADS events only" in result.stderr
    assert "line 5: invalid event (invalid_json)" in result.stderr
    assert "line 6: event 5102360 is an update; the worker skips updates" in result.stderr


def test_render_report_shows_attachments_and_one_priority_on_request(tmp_path: Path):
    config, events = write_files(tmp_path, {"format": "rt", "attach_flows": True}, [SCAN, DOS])
    result = render_report(config, events, "--priority", "high")
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "==== mail 1 of 1 ===="
    assert "X-RT-Tool-Name: Flowmon ADS Port scanning" in out
    assert "X-RT-Incident-IP: 10.0.0.5" in out
    assert "---- attachment flows-SCANS-10.0.0.5.csv (text/csv, 58 bytes) ----" in out
    assert out[out.index("---- attachment flows-SCANS-10.0.0.5.csv (text/csv, 58 bytes) ----") + 1:][:2] == [
        "event_id,src,dst,dport", "5102353,10.0.0.5,192.168.112.10,22"]


def test_render_report_previews_an_empty_period_and_notes_an_inactive_report(tmp_path: Path):
    config, events = write_files(tmp_path, {"format": "compact", "active": False}, [LOW])
    result = render_report(config, events, "--priority", "HIGH")
    assert result.returncode == 0, result.stderr
    assert "note: report soc-reports is inactive; the worker sends nothing for it" in result.stderr
    assert "No events in this period." in result.stdout.splitlines()
    nothing = render_report(config, events)
    assert nothing.returncode == 0 and nothing.stdout == ""
    assert "none of the 1 events reaches report soc-reports (perspective security, min_priority HIGH)" \
        in nothing.stderr


def test_render_report_refuses_an_unknown_report(tmp_path: Path):
    config, events = write_files(tmp_path, {}, [SCAN])
    result = subprocess.run([sys.executable, "-m", "streams.cli", "render-report", "-c", str(config), "--report",
                             "nope", str(events)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 1
    assert "expected the name of an email report (soc-reports), found 'nope'" in result.stderr
