"""The agent's disk: captures it finds on start (one left running by a crash is failed, remains
without a status are removed), and retention deleting the oldest by age and total size, counted
in metrics. No ring buffer here (no interfaces): only files."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from streams.capture_agent.agent import CaptureAgent
from streams.capture_agent.metrics import CaptureMetrics
from streams.capture_agent.records import CaptureRecord
from streams.config import CaptureSettings

DAY = 86400.0


def stored_capture(captures: Path, event_id: int, age_days: float, size: int, state: str = "finished") -> Path:
    record = CaptureRecord(event_id=event_id, group_id=1, group="g", interfaces=["lo"], hosts=["10.0.0.1"],
                           filter="host 10.0.0.1", start=None, live_recording_duration=1.0,
                           recording_start_offset=0.0, requested_at=time.time() - age_days * DAY, state=state,
                           finished_at=time.time() - age_days * DAY if state != "live" else None, size=size)
    directory = captures / record.capture_id
    directory.mkdir(parents=True)
    record.save(directory)
    (directory / "capture.pcapng").write_bytes(b"\0" * 16)
    return directory


def test_retention_deletes_the_oldest_by_age_then_size_and_counts_them(tmp_path: Path):
    captures = tmp_path / "captures"
    expired = stored_capture(captures, 1, 40, 1_000_000)
    oldest_fitting = stored_capture(captures, 2, 3, 3_000_000)
    kept = [stored_capture(captures, 3, 2, 3_000_000), stored_capture(captures, 4, 1, 3_000_000)]
    interrupted = stored_capture(captures, 5, 0, 0, state="live")
    (captures / "6-1").mkdir()  # no status: remains of a capture that never started
    registry = CollectorRegistry()
    settings = CaptureSettings(directory=str(tmp_path), token="0123456789abcdef",
                               retention={"max_age": "30d", "max_disk": "7MB"})
    agent = CaptureAgent(settings, CaptureMetrics(registry))

    async def start_and_stop() -> None:
        await agent.start()  # retention runs at once, then every retention.interval
        await agent.stop()

    asyncio.run(start_and_stop())
    assert not expired.exists() and not oldest_fitting.exists() and not (captures / "6-1").exists()
    assert all(directory.exists() for directory in kept) and interrupted.exists()
    status = json.loads((interrupted / "status.json").read_text())
    assert (status["state"], status["error"]) == ("failed", "interrupted: the agent stopped while it ran")
    assert registry.get_sample_value("ads_actions_capture_retention_deletions_total", {"reason": "age"}) == 1
    assert registry.get_sample_value("ads_actions_capture_retention_deletions_total", {"reason": "size"}) == 1
    assert registry.get_sample_value("ads_actions_capture_stored_bytes") == 6_000_000
