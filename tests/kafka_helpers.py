"""Helpers for integration tests: run a worker process, read whole topics."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from streams.demo import WorkerProcess as DemoWorker
from streams.topics import consumer_from_start


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


class WorkerProcess:
    """A worker for one test: started() returns once Faust logged that it is ready."""

    def __init__(self, config: Path, log: Path):
        self.config = config
        self.log_path = log
        self.worker: DemoWorker | None = None

    def start(self) -> "WorkerProcess":
        self.worker = DemoWorker(str(self.config), self.log_path)
        try:
            self.worker.wait_ready()
        except BaseException:
            self.worker.stop()
            raise
        return self

    def stop(self) -> None:
        if self.worker:
            self.worker.stop()

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed, committed or closed."""
        if self.worker and self.worker.process.poll() is None:
            os.killpg(self.worker.process.pid, signal.SIGKILL)
            self.worker.process.wait()


def read_topics(bootstrap: str, topics: list[str], expected: int, timeout: float = 60.0,
                settle: float = 1.0) -> list[Record]:
    """Read every partition of the topics from the start (assign, no group join) until at least
    ``expected`` records arrived, then ``settle`` more seconds to catch any extra (duplicates)."""
    consumer = consumer_from_start(bootstrap, topics, "test-reader")
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    settle_until = None
    try:
        while time.monotonic() < deadline:
            if settle_until is None and len(records) >= expected:
                settle_until = time.monotonic() + settle
            if settle_until is not None and time.monotonic() > settle_until:
                break
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            records.append(Record(message.topic(), message.partition(), message.offset(), message.key(),
                                  message.value(), {k: (v or b"").decode() for k, v in (message.headers() or [])}))
    finally:
        consumer.close()
    return records
