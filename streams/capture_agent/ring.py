"""One interface's rolling packet buffer: a dumpcap ring of files that it rotates itself, kept
running (restarted after an exit) for as long as the agent runs."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

from streams.config import CaptureInterface

from .metrics import CaptureMetrics
from .tools import ToolFailed, kill_group, start_tool
from .window import ring_layout

log = logging.getLogger("ads_actions.capture.ring")

# dumpcap prints this on stderr once packets are being written.
READY_LINE = b"Capturing on"
READY_TIMEOUT_SECONDS = 10.0
RESTART_BACKOFF_SECONDS = (1.0, 30.0)
# dumpcap names its files PREFIX_NNNNN_YYYYmmddHHMMSS.pcapng after the -w name.
RING_NAME = "ring.pcapng"
RING_GLOB = "ring_*.pcapng"


async def wait_until_capturing(process: asyncio.subprocess.Process, what: str) -> list[bytes]:
    """Read dumpcap's stderr until it says it captures; its lines so far. Raises ToolFailed if it
    exits first or takes too long."""
    assert process.stderr is not None
    lines: list[bytes] = []
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            while line := await process.stderr.readline():
                lines.append(line)
                if line.startswith(READY_LINE):
                    return lines
    except TimeoutError:
        raise ToolFailed(f"{what}: dumpcap did not start capturing within {READY_TIMEOUT_SECONDS:g} s") from None
    said = b" ".join(line.strip() for line in lines).decode("utf-8", errors="replace")
    raise ToolFailed(f"{what}: dumpcap exited before capturing: {said[-300:]}")


class RingBuffer:
    def __init__(self, interface: str, settings: CaptureInterface, directory: Path, metrics: CaptureMetrics):
        self.interface = interface
        self.settings = settings
        self.directory = directory
        self.metrics = metrics
        self.layout = ring_layout(settings.ttl, settings.max_disk, settings.ring_files)
        # When the running dumpcap started capturing: the ring holds nothing older.
        self.since: float | None = None
        self._supervisor: asyncio.Task | None = None

    def argv(self) -> list[str]:
        return ["dumpcap", "-q", "-i", self.interface, *self.layout.dumpcap_options(),
                "-w", str(self.directory / RING_NAME)]

    def files(self) -> list[Path]:
        """Oldest first, by dumpcap's file number (its digits grow past five in time)."""
        return sorted(self.directory.glob(RING_GLOB), key=lambda path: int(path.name.split("_")[1]))

    async def start(self) -> None:
        """Returns once dumpcap captures, or after its first failure (logged; it is retried)."""
        started = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.create_task(self._run(started), name=f"ring-{self.interface}")
        await started

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)

    async def _run(self, started: asyncio.Future) -> None:
        backoff = RESTART_BACKOFF_SECONDS[0]
        while True:
            # Files of an earlier dumpcap are not rotated by the new one: they would never leave.
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory.mkdir(parents=True)
            process = None
            try:
                process = await start_tool(self.argv(), stderr=asyncio.subprocess.PIPE)
                await wait_until_capturing(process, f"ring buffer of {self.interface}")
                self.since = time.time()
                self.metrics.ring_up.labels(self.interface).set(1)
                log.info("ring buffer of %s: recording, %d files of %d s, at most %d kB each", self.interface,
                         self.layout.files, self.layout.file_seconds, self.layout.file_kilobytes)
                if not started.done():
                    started.set_result(None)
                backoff = RESTART_BACKOFF_SECONDS[0]
                assert process.stderr is not None
                remaining = await process.stderr.read()  # to its end: until dumpcap exits
                status = await process.wait()
                log.error("ring buffer of %s: dumpcap exited with status %s: %s", self.interface, status,
                          remaining.decode("utf-8", errors="replace").strip()[-300:])
            except ToolFailed as exc:
                log.error("%s", exc)
            finally:
                self.since = None
                self.metrics.ring_up.labels(self.interface).set(0)
                if process is not None:
                    await kill_group(process)
            if not started.done():
                started.set_result(None)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESTART_BACKOFF_SECONDS[1])
