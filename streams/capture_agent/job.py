"""One capture: a live recording of the event's hosts on the group's interfaces, the same hosts'
packets from the ring buffers from the capture start until the live recording's first packet,
and both merged into one PCAP-NG file.

dumpcap reports that it captures a few milliseconds before its filter passes packets: the first
packets of the live recording would be lost. So the past window runs until the live file's first
packet (until the recording's end when it has none), also when only live traffic is asked for
(then from the moment the live recording started): the ring buffers fill the gap, and no packet
is in both parts.

The ring files present when the live recording starts are hard-linked into the capture's work
directory at once, so that dumpcap rotating them away during the live recording cannot take the
past window with it; they are read after the live recording, when what dumpcap had buffered is
on disk, together with files the ring began since.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from .pcapng import copy_complete_blocks
from .records import EXTRACTING, FAILED, FINISHED, LIVE, PCAP_NAME, CaptureRecord
from .ring import RingBuffer, wait_until_capturing
from .tools import ToolFailed, kill_group, run_tool, start_tool

log = logging.getLogger("ads_actions.capture.job")

# A live recording may end this long after its duration before it is stopped by force.
LIVE_STOP_GRACE_SECONDS = 10.0
WORK_DIRECTORY = "work"
# File times are written after the packets' own times; this covers clocks read at different moments.
MTIME_SLACK_SECONDS = 2.0


@dataclass(frozen=True)
class JobContext:
    rings: Mapping[str, RingBuffer]
    extraction_timeout: float
    save: Callable[[CaptureRecord], None]
    clock: Callable[[], float] = time.time


def _epoch(seconds: float) -> str:
    """A time as editcap reads it: seconds since the epoch, to the nanosecond."""
    return f"{seconds:.9f}"


class CaptureJob:
    def __init__(self, record: CaptureRecord, directory: Path, context: JobContext):
        self.record = record
        self.directory = directory
        self.work = directory / WORK_DIRECTORY
        self.context = context

    async def run(self) -> None:
        """Record, extract, merge; the record says how it went (state, error, notes)."""
        record = self.record
        try:
            self.work.mkdir(parents=True, exist_ok=True)
            live_file = self.work / "live.pcapng"
            live_ended_at = await self._record_live(live_file)
            record.state = EXTRACTING
            self.context.save(record)
            assert record.live_started_at is not None
            # As capinfos writes it: a float would round the nanoseconds, and the first live
            # packet's copy in the ring could pass for earlier.
            past_end = await self._first_packet_time(live_file) or _epoch(live_ended_at)
            past_start = record.start if record.start is not None else record.live_started_at
            parts = await self._extract_past(past_start, past_end)
            await self._merge([*parts, live_file], live_file)
            record.state = FINISHED
        except (ToolFailed, OSError) as exc:  # OSError: the disk is full, the directory went away...
            record.state, record.error = FAILED, str(exc)
            log.error("capture %s: %s", record.capture_id, exc)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
            record.finished_at = self.context.clock()
            self.context.save(record)

    async def _record_live(self, live_file: Path) -> float:
        """Records into ``live_file`` for the live recording duration; when it ended."""
        record = self.record
        argv = ["dumpcap", "-q", "-f", record.filter]
        for interface in record.interfaces:
            argv += ["-i", interface]
        # Counted by dumpcap from its start: "the countdown starts when the live capture starts".
        argv += ["-a", f"duration:{max(1, round(record.live_recording_duration))}", "-w", str(live_file)]
        process = await start_tool(argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            await wait_until_capturing(process, f"capture {record.capture_id}")
            record.live_started_at = self.context.clock()
            record.state = LIVE
            self._link_ring_files()
            self.context.save(record)
            assert process.stderr is not None
            try:
                async with asyncio.timeout(record.live_recording_duration + LIVE_STOP_GRACE_SECONDS):
                    stderr = await process.stderr.read()
                    status = await process.wait()
            except TimeoutError:
                raise ToolFailed(f"the live recording did not end within {LIVE_STOP_GRACE_SECONDS:g} s "
                                 f"after its duration") from None
            if status != 0:
                raise ToolFailed(f"dumpcap exited with status {status}: "
                                 f"{stderr.decode('utf-8', errors='replace').strip()[-300:]}")
            return self.context.clock()
        finally:
            await kill_group(process)

    def _past_directory(self, interface: str) -> Path:
        return self.work / f"ring-{interface}"

    def _link_ring_files(self) -> None:
        """Hard links (same file system): free, and they outlive dumpcap deleting the originals."""
        for interface in self.record.interfaces:
            ring = self.context.rings.get(interface)
            target = self._past_directory(interface)
            target.mkdir(exist_ok=True)
            for path in ring.files() if ring else []:
                try:
                    os.link(path, target / path.name)
                except FileNotFoundError:
                    pass  # rotated away between listing and linking: older than the TTL anyway

    async def _extract_past(self, start: float, end: str) -> list[Path]:
        """Per interface, the packets of [start, end) from its ring files that match the filter."""
        parts = []
        for interface in self.record.interfaces:
            linked = self._past_directory(interface)
            ring = self.context.rings.get(interface)
            current = ring.files() if ring else []
            newer = [path for path in current if not (linked / path.name).exists()]
            # A file last written before the start holds nothing of the window: not read at all,
            # which spares merging a whole ring of gigabytes for a window of minutes.
            files = [path for path in sorted(linked.glob("*.pcapng")) + newer
                     if path.stat().st_mtime >= start - MTIME_SLACK_SECONDS]
            if not files:
                continue
            if current:
                # The file dumpcap is writing: only its whole blocks.
                files = [self._complete_copy(path) if path.name == current[-1].name else path for path in files]
            merged = self.work / f"past-{interface}.pcapng"
            window = self.work / f"past-{interface}-window.pcapng"
            filtered = self.work / f"past-{interface}.pcap"
            timeout = self.context.extraction_timeout
            await run_tool(["mergecap", "-w", str(merged), *map(str, files)], timeout)
            await run_tool(["editcap", "-A", _epoch(start), "-B", end, str(merged), str(window)], timeout)
            # A ring file holds one interface, as tcpdump needs; the live file was filtered by dumpcap.
            await run_tool(["tcpdump", "-n", "-r", str(window), "-w", str(filtered), self.record.filter], timeout)
            parts.append(filtered)
        return parts

    def _complete_copy(self, path: Path) -> Path:
        copy = self.work / f"complete-{path.name}"
        copy_complete_blocks(path, copy)
        return copy

    async def _capinfos(self, option: str, path: Path) -> bytes:
        """One capinfos figure of the file (``-c`` packets, ``-a`` first packet time)."""
        output = await run_tool(["capinfos", "-T", "-r", "-S", "-M", option, str(path)],
                                self.context.extraction_timeout)
        return output.rsplit(b"\t", 1)[-1].strip()

    async def _first_packet_time(self, path: Path) -> str | None:
        """Seconds since the epoch, in capinfos' exact decimal text; None without packets."""
        value = (await self._capinfos("-a", path)).decode("ascii")
        return value if value != "n/a" else None

    async def _merge(self, parts: list[Path], live_file: Path) -> None:
        """One PCAP-NG (it keeps each packet's interface), in time order. A part without packets
        may lack the interface description mergecap needs: only parts with packets are merged, and
        with none at all the capture is the (empty) live recording."""
        result = self.directory / PCAP_NAME
        nonempty = [part for part in parts if int(await self._capinfos("-c", part))]
        merged = self.work / PCAP_NAME
        if nonempty:
            await run_tool(["mergecap", "-F", "pcapng", "-w", str(merged), *map(str, nonempty)],
                           self.context.extraction_timeout)
        else:
            merged = live_file
        self.record.packets = int(await self._capinfos("-c", merged))
        os.replace(merged, result)
        self.record.size = result.stat().st_size
