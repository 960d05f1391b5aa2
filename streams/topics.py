"""Creating the topics with the configured partition count before anything produces to them.

A producer's auto-create would use the broker's default partition count; Faust then refuses a
table whose changelog does not match its source topic, and keys would no longer be co-partitioned.
"""

from __future__ import annotations

from typing import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from .config import Settings, TopicSettings


def all_topic_names(settings: Settings) -> list[str]:
    topics = settings.topics
    return [topics.events, topics.ids_events, topics.dead_letter, topics.events_by_id,
            topics.ids_events_by_id, *topics.actions.model_dump().values()]


def prefixed_topics(prefix: str) -> dict:
    """A ``topics:`` section naming every topic ``<prefix>.<default name>``: runs that share a
    broker (tests, benchmarks) keep out of each other's data."""
    defaults = TopicSettings()
    return {**{field: f"{prefix}.{name}" for field, name in defaults.model_dump(exclude={"actions"}).items()},
            "actions": {kind: f"{prefix}.{name}" for kind, name in defaults.actions.model_dump().items()}}


def ensure_topics(settings: Settings, timeout: float = 30.0) -> None:
    """Create missing topics; existing ones are left as they are."""
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers, "log_level": 0})
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [NewTopic(name, num_partitions=settings.kafka.partitions,
                        replication_factor=settings.kafka.replication_factor)
               for name in all_topic_names(settings) if name not in existing]
    if not missing:
        return
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != exc.args[0].TOPIC_ALREADY_EXISTS:
                raise


def consumer_from_start(bootstrap: str, topics: Iterable[str], group_id: str) -> Consumer:
    """A consumer on every partition of the (existing) topics from their beginning, for tools that
    read what the worker wrote: assign(), not subscribe(), since Tansu holds a group join for half
    the session timeout and these readers need no group offsets."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False,
                         "log_level": 0})
    metadata = consumer.list_topics(timeout=10)
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)
                     for topic in topics if topic in metadata.topics
                     for partition in metadata.topics[topic].partitions])
    return consumer
