"""Faust's aiokafka transport, with the consumer's fetch wait taken from the configuration.

Faust hard-codes ``fetch_max_wait_ms=1500`` for its consumer. A broker answers a fetch once it has
data or once that wait is over, and Tansu (the embedded broker) answers only when the wait is
over: every hop (input -> router -> sink) then cost up to 1.5 s. ``kafka.fetch_max_wait``
(100 ms by default) bounds it: measured at 1,000 events/s, publish-to-syslog latency fell from
p50 3.2 s to 0.36 s (docs/benchmarks.md). A real Kafka answers as soon as data arrives, so a
shorter wait only costs more empty fetches there.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it creates its fetcher, which has not happened yet.
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(driver.Transport):
    Consumer = _Consumer


class App(faust.App):
    """A Faust app whose consumer waits at most ``fetch_max_wait_ms`` for a fetch to fill."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any):
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
