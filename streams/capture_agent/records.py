"""What the agent knows of one capture, kept as status.json next to its PCAP so that a restarted
agent still lists (and retention still deletes) what earlier runs recorded."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

QUEUED, LIVE, EXTRACTING, FINISHED, FAILED = "queued", "live", "extracting", "finished", "failed"
ENDED = (FINISHED, FAILED)
# Capture IDs are "<event id>-<group id>": made by the agent from integers, never taken as a path.
CAPTURE_ID = re.compile(r"^(\d{1,19})-(\d{1,10})$")
PCAP_NAME = "capture.pcapng"
STATUS_NAME = "status.json"


def capture_id_of(event_id: int, group_id: int) -> str:
    return f"{event_id}-{group_id}"


def parse_capture_id(text: str) -> tuple[int, int] | None:
    """(event id, group id), or None for anything that is not a capture ID."""
    match = CAPTURE_ID.match(text)
    return (int(match[1]), int(match[2])) if match else None


@dataclass
class CaptureRecord:
    event_id: int
    group_id: int
    group: str
    interfaces: list[str]
    hosts: list[str]
    filter: str
    start: float | None  # None: live traffic only
    live_recording_duration: float
    recording_start_offset: float
    requested_at: float
    state: str = QUEUED
    live_started_at: float | None = None
    finished_at: float | None = None
    packets: int | None = None
    size: int | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def capture_id(self) -> str:
        return capture_id_of(self.event_id, self.group_id)

    def to_json(self) -> dict:
        return {"id": self.capture_id, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> "CaptureRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})

    def save(self, directory: Path) -> None:
        """Written whole or not at all: a crash leaves the previous status."""
        temporary = directory / f".{STATUS_NAME}.tmp"
        temporary.write_text(json.dumps(self.to_json(), indent=1))
        os.replace(temporary, directory / STATUS_NAME)
