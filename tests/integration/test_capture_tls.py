"""The capture API over TLS: the sink reaches a remote agent verified with the configured CA (and
not without it), and reaches the worker's own agent (agent: local) with its certificate pinned;
the download routes answer over TLS too."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from sinks.base import Delivery, Outcome
from sinks.capture import CaptureSink
from sinks.metrics import SinkMetrics
from streams.config import Settings
from streams.events import InputLimits, ads_event_from_mapping
from streams.priorities import Priority
from streams.receivers.rsyslog import write_test_certificates

from .capture_support import TOKEN, AgentProcess, api, wait_for_capture


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_test_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="module")
def tls_agent(tmp_path_factory: pytest.TempPathFactory, certificates):
    ca, cert, key = certificates
    with AgentProcess(tmp_path_factory.mktemp("tls-agent"), ca_file=ca,
                      tls={"cert_file": str(cert), "key_file": str(key)}) as process:
        yield process


def settings_with(agent: object, capture: dict) -> Settings:
    return Settings.model_validate({
        "perspectives": {"security": {"id": 1, "rules": [{"types": ["DOS"], "priority": "CRITICAL"}]}},
        "capture": {"token": TOKEN, **capture},
        "actions": {"capture": [{"name": "rec", "perspective": "security", "agent": agent, "group": 1,
                                 "live_recording_duration": "1s"}]}})


def deliver(settings: Settings, event_id: int) -> Outcome:
    event = ads_event_from_mapping({"id": event_id, "timestamp": time.time(), "type": "DOS", "source": "127.30.0.1",
                                    "targets": ["127.30.0.2"]}, InputLimits())
    delivery = Delivery(action="rec", kind="capture", perspective="security", perspective_id=1,
                        priority=Priority.CRITICAL, routed_at=datetime.now(timezone.utc), event=event,
                        topic="ads.action.capture", partition=0, offset=0, key=None, value=b"")
    sink = CaptureSink(settings.actions.capture[0], settings, SinkMetrics(CollectorRegistry()))

    async def run() -> list[Outcome]:
        await sink.start()
        try:
            return await sink.deliver([delivery])
        finally:
            await sink.stop()

    [outcome] = asyncio.run(run())
    return outcome


def test_a_remote_agent_is_verified_with_the_configured_ca(tls_agent: AgentProcess, certificates):
    ca, _, _ = certificates
    agent = {"url": tls_agent.url, "token": TOKEN, "ca_file": str(ca)}
    assert deliver(settings_with(agent, {}), 301) is None
    capture = wait_for_capture(tls_agent.url, "301-1", context=tls_agent.ssl_context)
    assert capture["state"] == "finished"
    status, listed = api(tls_agent.url, "GET", "/events/301/captures", context=tls_agent.ssl_context)
    assert status == 200 and listed[0]["download"] == "/events/301/captures/local/301-1.pcapng"


def test_a_remote_agent_whose_certificate_cannot_be_verified_is_not_sent_the_token(tls_agent: AgentProcess):
    outcome = deliver(settings_with({"url": tls_agent.url, "token": TOKEN}, {}), 302)
    assert outcome is not None and outcome.reason == "tls_error" and not outcome.permanent
    assert api(tls_agent.url, "GET", "/captures?event_id=302", context=tls_agent.ssl_context)[1] == []


def test_the_local_agent_is_reached_with_its_certificate_pinned(tls_agent: AgentProcess, certificates):
    # The worker's client of its own agent, pointed at this agent's listen address and certificate.
    _, cert, key = certificates
    settings = settings_with("local", {"listen": {"host": "127.0.0.1", "port": tls_agent.port},
                                       "tls": {"cert_file": str(cert), "key_file": str(key)},
                                       "interfaces": {"lo": {}}, "groups": {"loopback": {"id": 1,
                                                                                         "interfaces": ["lo"]}}})
    assert deliver(settings, 303) is None
    assert wait_for_capture(tls_agent.url, "303-1", context=tls_agent.ssl_context)["state"] == "finished"
