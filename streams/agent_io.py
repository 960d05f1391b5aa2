"""What every agent reads and how: raw bytes (decoding is ours, so that bad input is
dead-lettered instead of crashing Faust's deserialiser), and Faust events as plain messages."""

from __future__ import annotations

from faust.types import EventT

from .triggers import InputMessage

RAW_TOPIC = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


def input_message(event: EventT) -> InputMessage:
    message = event.message
    return InputMessage(message.topic, message.partition, message.offset, message.key, message.value,
                        message.timestamp)
