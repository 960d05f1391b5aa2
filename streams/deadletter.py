"""Dead-letter messages: the original bytes plus headers saying why and where from.

The same header set serves input that could not be parsed (stage ``input``) and, in the sink
pipeline, deliveries that failed after their last try, so one consumer can read and re-drive both.
"""

from __future__ import annotations

from datetime import datetime, timezone

HEADER_REASON = "ads-dlq-reason"
HEADER_DETAIL = "ads-dlq-detail"
HEADER_STAGE = "ads-dlq-stage"
HEADER_SOURCE_TOPIC = "ads-dlq-source-topic"
HEADER_SOURCE_PARTITION = "ads-dlq-source-partition"
HEADER_SOURCE_OFFSET = "ads-dlq-source-offset"
HEADER_TIME = "ads-dlq-time"
HEADER_TRUNCATED_FROM = "ads-dlq-truncated-from"
# Failed deliveries only: the action that gave up, and after how many tries.
HEADER_ACTION = "ads-dlq-action"
HEADER_ATTEMPTS = "ads-dlq-attempts"

STAGE_INPUT = "input"
STAGE_DELIVERY = "delivery"

MAX_DETAIL_BYTES = 1024
# Below Kafka's default message.max.bytes (1 MiB) with room for headers: an oversized input is
# kept whole when it fits, and cut (saying so in a header) only when the broker would refuse it.
MAX_PAYLOAD_BYTES = 900 * 1024


def dead_letter_headers(*, reason: str, detail: str, stage: str, topic: str, partition: int, offset: int,
                        now: datetime | None = None) -> list[tuple[str, bytes]]:
    when = (now or datetime.now(timezone.utc)).isoformat(timespec="milliseconds")
    return [
        (HEADER_REASON, reason.encode()),
        (HEADER_DETAIL, _cut_utf8(detail.encode("utf-8", "backslashreplace"), MAX_DETAIL_BYTES)),
        (HEADER_STAGE, stage.encode()),
        (HEADER_SOURCE_TOPIC, topic.encode()),
        (HEADER_SOURCE_PARTITION, str(partition).encode()),
        (HEADER_SOURCE_OFFSET, str(offset).encode()),
        (HEADER_TIME, when.encode()),
    ]


def _cut_utf8(data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes, never ending inside a multi-byte character."""
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")


def bounded_payload(original: bytes, limit: int = MAX_PAYLOAD_BYTES) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The original bytes, cut to ``limit`` only if needed (an oversized input must not also break
    the dead-letter write)."""
    if len(original) <= limit:
        return original, []
    return original[:limit], [(HEADER_TRUNCATED_FROM, str(len(original)).encode())]


def headers_dict(headers: object) -> dict[str, str]:
    """Kafka headers from any client (list of pairs, or mapping) as text, for display and tests."""
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    return {key: (value or b"").decode("utf-8", "replace") for key, value in items}
