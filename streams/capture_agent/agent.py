"""The capture agent: ring buffers of the configured interfaces, and the captures asked of it.

A capture is identified by its event and group: asking again for one that exists returns it
(idempotent, as the sink's retries and re-drives need), unless it failed, in which case it is
recorded again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, field_validator

from streams.config import CaptureSettings

from .filters import MAX_FILTER_HOSTS, canonical_address, host_filter
from .job import CaptureJob, JobContext
from .metrics import CaptureMetrics
from .records import ENDED, FAILED, FINISHED, PCAP_NAME, STATUS_NAME, CaptureRecord, capture_id_of, \
    parse_capture_id
from .retention import StoredCapture, expired_captures
from .ring import RingBuffer
from .window import past_window_notes

log = logging.getLogger("ads_actions.capture")


class CaptureRequest(BaseModel):
    """The body of POST /captures."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: int = Field(ge=0, le=2**63 - 1)
    group: int = Field(ge=0, le=2**31 - 1)
    hosts: list[IPvAnyAddress] = Field(min_length=1, max_length=MAX_FILTER_HOSTS)
    start: float | None = Field(None, ge=0, description="seconds since the epoch; null: live traffic only")
    live_recording_duration: float = Field(gt=0)
    recording_start_offset: float = Field(0.0, ge=0, description="as configured, to report one beyond the TTL")

    @field_validator("hosts")
    @classmethod
    def _no_zone(cls, hosts: list) -> list:
        # "fe80::1%eth0": the zone is free text, and a filter has no use for it.
        zoned = [str(host) for host in hosts if getattr(host, "scope_id", None)]
        if zoned:
            raise ValueError(f"expected addresses without a zone, found {', '.join(zoned)}")
        return hosts


class RequestRefused(Exception):
    """A valid request the agent cannot carry out (an unknown group, a live duration too long)."""


class CaptureAgent:
    def __init__(self, settings: CaptureSettings, metrics: CaptureMetrics, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        root = Path(settings.directory)
        self.captures_directory = root / "captures"
        self.rings = {name: RingBuffer(name, interface, root / "ring" / name, metrics)
                      for name, interface in settings.interfaces.items()}
        self.records: dict[str, CaptureRecord] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._slots = asyncio.Semaphore(settings.max_running)
        self._retention: asyncio.Task | None = None
        self._context = JobContext(self.rings, settings.extraction_timeout, self._save, clock)

    async def start(self) -> None:
        self.captures_directory.mkdir(parents=True, exist_ok=True)
        self._load()
        self.apply_retention()
        await asyncio.gather(*(ring.start() for ring in self.rings.values()))
        self._retention = asyncio.create_task(self._retain_periodically(), name="capture-retention")

    async def stop(self) -> None:
        tasks = [*self._tasks.values(), *([self._retention] if self._retention else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(ring.stop() for ring in self.rings.values()))

    def directory_of(self, record: CaptureRecord) -> Path:
        return self.captures_directory / record.capture_id

    def pcap_of(self, record: CaptureRecord) -> Path | None:
        return self.directory_of(record) / PCAP_NAME if record.state == FINISHED else None

    def find(self, capture_id: str) -> CaptureRecord | None:
        return self.records.get(capture_id) if parse_capture_id(capture_id) else None

    def list(self, event_id: int | None = None) -> list[CaptureRecord]:
        records = [r for r in self.records.values() if event_id is None or r.event_id == event_id]
        return sorted(records, key=lambda record: (record.requested_at, record.capture_id))

    def request(self, request: CaptureRequest) -> tuple[CaptureRecord, bool]:
        """The event's capture on the group, and whether it was started now."""
        named = [(name, group) for name, group in self.settings.groups.items() if group.id == request.group]
        if not named:
            known = ", ".join(str(group.id) for group in self.settings.groups.values()) or "none"
            raise RequestRefused(f"expected the id of a configured capture group ({known}), found {request.group}")
        if request.live_recording_duration > self.settings.max_live_duration:
            raise RequestRefused(f"expected a live recording duration of at most "
                                 f"{self.settings.max_live_duration:g} s, found {request.live_recording_duration:g}")
        [(group_name, group)] = named
        capture_id = capture_id_of(request.event_id, request.group)
        existing = self.records.get(capture_id)
        if existing is not None and existing.state != FAILED:
            return existing, False
        hosts = [canonical_address(address) for address in request.hosts]
        now = self.clock()
        record = CaptureRecord(
            event_id=request.event_id, group_id=group.id, group=group_name, interfaces=list(group.interfaces),
            hosts=[address.compressed for address in hosts], filter=host_filter(hosts), start=request.start,
            live_recording_duration=request.live_recording_duration,
            recording_start_offset=request.recording_start_offset, requested_at=now)
        for interface in group.interfaces:
            ttl = self.settings.interfaces[interface].ttl
            notes = past_window_notes(request.start, now, interface, ttl, self.rings[interface].since,
                                      request.recording_start_offset)
            if request.start is not None and request.recording_start_offset > ttl:
                self.metrics.offset_beyond_ttl.labels(interface).inc()
            for note in notes:
                log.warning("capture %s: %s", capture_id, note)
            record.notes += notes
        directory = self.directory_of(record)
        shutil.rmtree(directory, ignore_errors=True)  # a failed attempt's remains
        directory.mkdir(parents=True)
        self._save(record)
        self.records[capture_id] = record
        self._tasks[capture_id] = asyncio.create_task(self._run(record), name=f"capture-{capture_id}")
        log.info("capture %s: started for event %d on group %s (%s), filter %r", capture_id, record.event_id,
                 group_name, ", ".join(group.interfaces), record.filter)
        return record, True

    async def delete(self, capture_id: str) -> bool:
        """Stops the capture if it runs, and deletes it; False if there is no such capture."""
        record = self.find(capture_id)
        if record is None:
            return False
        task = self._tasks.get(capture_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.records.pop(capture_id, None)
        shutil.rmtree(self.directory_of(record), ignore_errors=True)
        self._update_stored_bytes()
        log.info("capture %s: deleted", capture_id)
        return True

    async def _run(self, record: CaptureRecord) -> None:
        self.metrics.running.inc()
        result = "cancelled"
        try:
            async with self._slots:
                await CaptureJob(record, self.directory_of(record), self._context).run()
            result = record.state
            if record.state == FINISHED:
                log.info("capture %s: finished, %s packets, %s bytes", record.capture_id, record.packets,
                         record.size)
        except asyncio.CancelledError:
            record.state, record.error = FAILED, "stopped before it ended (deleted, or the agent stopped)"
            if record.finished_at is None:
                record.finished_at = self.clock()
            if self.directory_of(record).is_dir():
                self._save(record)
            raise
        finally:
            self._tasks.pop(record.capture_id, None)
            self.metrics.running.dec()
            self.metrics.captures.labels(record.group, result).inc()
        self.apply_retention()

    def _save(self, record: CaptureRecord) -> None:
        record.save(self.directory_of(record))

    def _load(self) -> None:
        """What earlier runs recorded; a capture they left running is failed (its live recording
        is lost), and remains of anything else are removed."""
        for directory in self.captures_directory.iterdir():
            status = directory / STATUS_NAME
            try:
                record = CaptureRecord.from_json(json.loads(status.read_text()))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("capture directory %s: no readable status (%s): removed", directory, exc)
                shutil.rmtree(directory, ignore_errors=True)
                continue
            if record.capture_id != directory.name:
                log.warning("capture directory %s holds the status of %s: removed", directory, record.capture_id)
                shutil.rmtree(directory, ignore_errors=True)
                continue
            if record.state not in ENDED:
                record.state, record.error = FAILED, "interrupted: the agent stopped while it ran"
                record.finished_at = record.finished_at or self.clock()
                self._save(record)
            shutil.rmtree(directory / "work", ignore_errors=True)
            self.records[record.capture_id] = record
        self._update_stored_bytes()

    def apply_retention(self) -> None:
        retention = self.settings.retention
        ended = [StoredCapture(record.capture_id, record.finished_at, record.size or 0)
                 for record in self.records.values()
                 if record.state in ENDED and record.finished_at is not None and record.capture_id not in self._tasks]
        for stored, reason in expired_captures(ended, self.clock(), retention.max_age, retention.max_disk):
            record = self.records.pop(stored.capture_id)
            shutil.rmtree(self.directory_of(record), ignore_errors=True)
            self.metrics.retention_deleted.labels(reason).inc()
            log.info("capture %s: deleted by retention (%s)", stored.capture_id, reason)
        self._update_stored_bytes()

    def _update_stored_bytes(self) -> None:
        self.metrics.stored_bytes.set(sum(record.size or 0 for record in self.records.values()))

    async def _retain_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.retention.interval)
            self.apply_retention()
