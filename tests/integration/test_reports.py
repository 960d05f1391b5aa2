"""Email reports in a real worker, end to end: events published to Kafka, mails received by a real
SMTP server (aiosmtpd) and parsed with the email package. Periods are shortened by configuration
(email.periods), never slept through at their real length."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from email.message import EmailMessage

import orjson
import pytest

from streams.broker import free_port
from streams.config import load_settings
from streams.publish import publish_lines
from tests.integration.smtp_server import running_smtp_server
from tests.kafka_helpers import WorkerProcess, read_topics

pytestmark = pytest.mark.integration

# In the example's security perspective: DOS is CRITICAL, SCANS HIGH, ANOMALY MEDIUM.
MAIL_TIMEOUT = 60.0


def ads_event(event_id: int, event_type: str = "DOS", source: str = "10.0.112.1", **fields: object) -> bytes:
    return orjson.dumps({"id": event_id, "timestamp": "2026-11-22 15:10:43", "type": event_type, "source": source,
                         "targets": ["192.168.112.2"], "detail": f"detail of event {event_id}", **fields})


def report(name: str, **fields: object) -> dict:
    return {"name": name, "perspective": "security", "recipients": [f"{name}@example.org"], "format": "compact",
            **fields}


def config_for(isolated_config, smtp_port: int, reports: list[dict], **email: object):
    return isolated_config(
        actions={"email": reports},
        smtp={"host": "127.0.0.1", "port": smtp_port, "timeout": "5s", "from_address": "ads@example.org"},
        email={"timezone": "UTC", "close_delay": "1s", **email})


def wait_for_mails(server, count: int, timeout: float = MAIL_TIMEOUT, settle: float = 3.0) -> list[EmailMessage]:
    """The first ``count`` mails, after ``settle`` more seconds in which a duplicate would show."""
    deadline = time.monotonic() + timeout
    while len(server.mails) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(settle)
    return [mail.message for mail in server.mails]


def listed_ids(mail: EmailMessage) -> list[int]:
    body = mail.get_body(("plain",)).get_content()
    return sorted(int(event_id) for event_id in re.findall(r"detail of event (\d+)", body))


def wait_for_period_with(length: float, needed: float) -> None:
    """Return when at least ``needed`` seconds are left of the current period (of ``length``
    seconds, epoch-aligned), sleeping into the next one if need be: a scenario then fits in one."""
    left = length - time.time() % length
    if left < needed:
        time.sleep(left + 0.5)


def test_critical_events_arrive_in_one_mail_within_seconds_and_min_priority_and_inactive_hold(isolated_config,
                                                                                                tmp_path):
    with running_smtp_server() as server:
        config = config_for(isolated_config, server.port, [
            report("soc"),
            report("critical-only", min_priority="CRITICAL"),
            report("off-duty", active=False),
        ], immediate_window="10s", periods={"HIGH": "10s"})
        settings = load_settings(config)
        worker = WorkerProcess(config, tmp_path / "worker.log").start()
        try:
            wait_for_period_with(10, needed=5)
            # (Not into the DMZ: staff scanning the DMZ is CRITICAL in the example perspective.)
            publish_lines(settings, [ads_event(i) for i in (1, 2, 3)] + [ads_event(4, "SCANS", targets=["8.8.8.8"])])
            mails = wait_for_mails(server, 3)
        finally:
            worker.stop()
    received = sorted((mail["X-ADS-Actions-Report"], listed_ids(mail)) for mail in mails)
    # soc: the CRITICAL events in one mail, the HIGH one in its own period's mail.
    assert received == [("critical-only", [1, 2, 3]), ("soc", [1, 2, 3]), ("soc", [4])]
    assert {mail["To"] for mail in mails} == {"soc@example.org", "critical-only@example.org"}


def test_a_worker_killed_mid_period_sends_one_report_with_the_events_from_before_and_after(isolated_config,
                                                                                           tmp_path):
    with running_smtp_server() as server:
        config = config_for(isolated_config, server.port, [report("soc")], periods={"HIGH": "30s"})
        settings = load_settings(config)
        worker = WorkerProcess(config, tmp_path / "worker.log").start()
        wait_for_period_with(30, needed=22)  # publish, kill, restart (about 10 s), publish again
        publish_lines(settings, [ads_event(11, "SCANS", targets=["8.8.8.8"]),
                                 ads_event(12, "SCANS", source="10.0.112.7", targets=["8.8.4.4"])])
        # Both are in the changelog of the open period (the worker acknowledged them).
        read_topics(settings.kafka.bootstrap_servers, [f"{settings.kafka.app_id}-report-periods-changelog"], 6,
                    settle=0)
        worker.kill()
        worker = WorkerProcess(config, tmp_path / "worker-2.log").start()
        try:
            publish_lines(settings, [ads_event(13, "SCANS", targets=["8.8.8.8"])])
            mails = wait_for_mails(server, 1, settle=5)
        finally:
            worker.stop()
    assert len(mails) == 1
    assert listed_ids(mails[0]) == [11, 12, 13]


def test_reports_wait_for_a_mail_server_that_is_down_and_arrive_once(isolated_config, tmp_path):
    port = free_port()  # nothing listens there yet
    config = config_for(isolated_config, port, [
        report("soc", retry={"initial_backoff": "500ms", "max_backoff": "1s"})])
    settings = load_settings(config)
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    try:
        publish_lines(settings, [ads_event(21)])
        deadline = time.monotonic() + MAIL_TIMEOUT
        while "trying again" not in (tmp_path / "worker.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        with running_smtp_server(port=port) as server:
            mails = wait_for_mails(server, 1)
    finally:
        worker.stop()
    assert len(mails) == 1 and listed_ids(mails[0]) == [21]


def test_a_refused_report_is_dead_lettered_with_the_reply_and_redrive_sends_it_once(isolated_config, tmp_path):
    port = free_port()
    config = config_for(isolated_config, port, [report("soc")])
    settings = load_settings(config)
    with running_smtp_server(port=port, refused_recipients={"soc@example.org"}):
        worker = WorkerProcess(config, tmp_path / "worker.log").start()
        try:
            publish_lines(settings, [ads_event(31)])
            [dead] = read_topics(settings.kafka.bootstrap_servers, [settings.topics.dead_letter], 1)
        finally:
            worker.stop()
    assert dead.headers["ads-dlq-reason"] == "rejected" and "550" in dead.headers["ads-dlq-detail"]
    assert dead.headers["ads-dlq-action"] == "soc"
    redrive = [sys.executable, "-m", "streams.cli", "redrive", "-c", str(config), "--action", "soc"]
    with running_smtp_server(port=port) as server:
        first = subprocess.run(redrive, capture_output=True, text=True, timeout=120)
        second = subprocess.run(redrive, capture_output=True, text=True, timeout=120)
    assert "re-drove 1 dead-lettered deliveries (rejected: 1)" in first.stdout, first.stdout + first.stderr
    assert "re-drove 0 dead-lettered deliveries" in second.stdout, second.stdout + second.stderr
    assert [listed_ids(mail.message) for mail in server.mails] == [[31]]
    assert server.mails[0].recipients == ["soc@example.org"]
