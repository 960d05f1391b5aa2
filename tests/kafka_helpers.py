"""Helpers for integration tests: run a worker process, read whole topics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

READY_LINE = "[^Worker]: Ready"


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


class WorkerProcess:
    """``ads-actions worker -c CONFIG`` as a child process; started() waits for Faust's ready line."""

    def __init__(self, config: Path, log: Path):
        self.config = config
        self.log_path = log
        self.process: subprocess.Popen | None = None
        self._ready = threading.Event()

    def start(self, timeout: float = 120.0) -> "WorkerProcess":
        self._ready.clear()
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "-c", str(self.config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

        def pump() -> None:
            assert self.process and self.process.stdout
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                if READY_LINE in line:
                    self._ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker did not become ready; log:\n{self.log_path.read_text()[-4000:]}")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def read_topics(bootstrap: str, topics: list[str], expected: int, timeout: float = 60.0,
                settle: float = 1.0) -> list[Record]:
    """Read every partition of the topics from the start (assign, no group join) until at least
    ``expected`` records arrived, then ``settle`` more seconds to catch any extra (duplicates)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-reader", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "log_level": 0})
    metadata = consumer.list_topics(timeout=10)
    consumer.assign([TopicPartition(topic, partition, 0)
                     for topic in topics if topic in metadata.topics
                     for partition in metadata.topics[topic].partitions])
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
