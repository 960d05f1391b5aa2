"""Pure computations of the capture window and the ring buffer layout."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime


def capture_start(detected_at: datetime, first_flow: datetime | None, offset: float) -> datetime | None:
    """When the capture starts: the later of (detection time - offset) and the first flow time.
    None for offset 0: live traffic only."""
    if offset <= 0:
        return None
    start = detected_at.timestamp() - offset
    if first_flow is not None:
        start = max(start, first_flow.timestamp())
    return datetime.fromtimestamp(start, detected_at.tzinfo)


@dataclass(frozen=True)
class RingLayout:
    """dumpcap's ring buffer options: ``files`` files of ``file_seconds`` each, at most
    ``file_kilobytes`` each."""

    file_seconds: int
    files: int
    file_kilobytes: int

    def dumpcap_options(self) -> list[str]:
        return ["-b", f"duration:{self.file_seconds}", "-b", f"files:{self.files}",
                "-b", f"filesize:{self.file_kilobytes}"]


def ring_layout(ttl: float, max_disk: int, files: int) -> RingLayout:
    """The ring that keeps at least ``ttl`` seconds in at most ``max_disk`` bytes.

    The newest file is still being written, so the other ``files - 1`` must cover the TTL; each
    file gets an equal share of the disk (in KiB: dumpcap's unit is 1000 or 1024 bytes depending
    on the version, and KiB stays under the bound with either). When traffic fills a file before
    its time is up, dumpcap starts the next one early and the buffer holds less than the TTL."""
    return RingLayout(file_seconds=max(1, math.ceil(ttl / (files - 1))), files=files,
                      file_kilobytes=max(1, max_disk // files // 1024))


def past_window_notes(start: float | None, live_started_at: float, interface: str, ttl: float,
                      ring_since: float | None, offset: float) -> list[str]:
    """Why packets of [start, live start) may be missing from the interface's ring buffer."""
    if start is None:
        return []
    notes = []
    if offset > ttl:
        notes.append(f"recording start offset {offset:g} s exceeds the TTL {ttl:g} s of interface {interface}: "
                     f"increase its ttl to include packets from further back")
    elif live_started_at - start > ttl:
        notes.append(f"the capture starts {live_started_at - start:.0f} s before the live recording, beyond "
                     f"the TTL {ttl:g} s of interface {interface}: its earliest packets are gone")
    if ring_since is None:
        notes.append(f"the ring buffer of interface {interface} is not running: no packets from before the "
                     f"live recording")
    elif ring_since > start:
        notes.append(f"the ring buffer of interface {interface} holds packets since {ring_since:.3f} only "
                     f"(capture start {start:.3f}): it started after the capture start")
    return notes
