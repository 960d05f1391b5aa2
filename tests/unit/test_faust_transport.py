"""The worker's Kafka consumer waits at most kafka.fetch_max_wait for a fetch, not Faust's 1.5 s."""

import asyncio

from prometheus_client import CollectorRegistry

from streams.app import build_app
from streams.config import parse_settings

CONFIG = """\
kafka: {fetch_max_wait: 250ms}
perspectives: {security: {id: 1, rules: [{types: [DOS], priority: HIGH}]}}
"""


def test_the_consumer_takes_its_fetch_wait_from_the_configuration():
    async def created_consumer_wait() -> int:
        app = build_app(parse_settings(CONFIG), registry=CollectorRegistry())
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return consumer._fetch_max_wait_ms
        finally:
            await consumer.stop()  # never started: only closes what the constructor opened

    assert asyncio.run(created_consumer_wait()) == 250
