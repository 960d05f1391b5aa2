"""``ads-actions redrive``: give an action's dead-lettered deliveries another go.

A failed delivery's dead letter holds the original routed message, its key and where it came
from. Re-driving produces it back to that topic with the same key (so the same partition, and the
same delivered-table partition), where the action's sink takes it as any other: a delivery that
did happen meanwhile is recognised and not repeated.

An email report's dead letter holds the mail itself (its period is closed and gone): re-driving
sends it again through the ``smtp:`` settings, with its original Message-ID.

What was re-driven is remembered per action as the committed offsets of the consumer group
``<app_id>-redrive-<action>``, so running it again re-drives only what failed since (``--all``
starts from the beginning of the dead-letter topic).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from sinks.smtp_send import send_messages

from .config import EmailAction, Settings
from .deadletter import (HEADER_ACTION, HEADER_REASON, HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION,
                         HEADER_SOURCE_TOPIC, HEADER_STAGE, HEADER_TRUNCATED_FROM, STAGE_DELIVERY, headers_dict)
from .publish import produce_waiting, producer_for

# The dead-letter topic is read until it has been quiet this long: Tansu's high watermark is not
# reliable after multi-record batches (environment.md), so "caught up" cannot be read from it.
IDLE_SECONDS = 2.0
HEADER_REDRIVEN_FROM = "ads-redriven-from"


@dataclass
class RedriveResult:
    redriven: Counter = field(default_factory=Counter)  # by dead-letter reason
    examined: int = 0
    # Report mails cut to the dead-letter size limit: sending them would send a broken mail.
    truncated_mails: int = 0

    @property
    def total(self) -> int:
        return sum(self.redriven.values())


def redrive(settings: Settings, action: str, *, from_beginning: bool = False, dry_run: bool = False,
            idle_seconds: float = IDLE_SECONDS) -> RedriveResult:
    if settings.action(action) is None:
        raise ValueError(f"expected the name of an action in the configuration, found {action!r}")
    dead_letter = settings.topics.dead_letter
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers,
                         "group.id": f"{settings.kafka.app_id}-redrive-{action}",
                         "enable.auto.commit": False, "log_level": 0})
    resends_mail = isinstance(settings.action(action), EmailAction)
    producer = None if dry_run or resends_mail else producer_for(settings)
    mails = []
    result = RedriveResult()
    try:
        metadata = consumer.list_topics(dead_letter, timeout=10).topics.get(dead_letter)
        if metadata is None or metadata.error is not None:
            return result
        partitions = [TopicPartition(dead_letter, p) for p in metadata.partitions]
        if from_beginning:
            start = [TopicPartition(dead_letter, p.partition, OFFSET_BEGINNING) for p in partitions]
        else:
            start = [TopicPartition(dead_letter, p.partition, p.offset if p.offset >= 0 else OFFSET_BEGINNING)
                     for p in consumer.committed(partitions, timeout=10)]
        consumer.assign(start)
        next_offsets: dict[int, int] = {}
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_seconds:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            quiet_since = time.monotonic()
            next_offsets[message.partition()] = message.offset() + 1
            result.examined += 1
            headers = headers_dict(message.headers())
            if headers.get(HEADER_STAGE) != STAGE_DELIVERY or headers.get(HEADER_ACTION) != action:
                continue
            if resends_mail and HEADER_TRUNCATED_FROM in headers:
                result.truncated_mails += 1
                continue
            result.redriven[headers.get(HEADER_REASON, "")] += 1
            if resends_mail:
                mails.append(email.message_from_bytes(message.value() or b"", policy=email.policy.SMTP))
            elif producer is not None:
                origin = "/".join(headers.get(h, "") for h in (HEADER_SOURCE_TOPIC, HEADER_SOURCE_PARTITION,
                                                               HEADER_SOURCE_OFFSET))
                produce_waiting(producer, headers[HEADER_SOURCE_TOPIC], message.value(), message.key(),
                                headers=[(HEADER_REDRIVEN_FROM, origin.encode())])
        if resends_mail and mails and not dry_run:
            asyncio.run(send_messages(settings.smtp, mails))  # MailNotSent: nothing is committed
        if producer is not None and producer.flush(30) != 0:
            raise RuntimeError("the broker did not acknowledge every re-driven message within 30 s")
        if not dry_run and next_offsets:
            consumer.commit(offsets=[TopicPartition(dead_letter, p, o) for p, o in next_offsets.items()],
                            asynchronous=False)
        return result
    finally:
        consumer.close()
