"""Dead-letter headers and payload bounds."""

from __future__ import annotations

from datetime import datetime, timezone

from streams.deadletter import MAX_DETAIL_BYTES, bounded_payload, dead_letter_headers, headers_dict


def headers(detail: str) -> dict[str, str]:
    return headers_dict(dead_letter_headers(reason="invalid_value", detail=detail, stage="input", topic="ads.events",
                                            partition=3, offset=42, now=datetime(2026, 11, 22, tzinfo=timezone.utc)))


def test_headers_say_why_and_where_from():
    assert headers("field 'source': expected an IP") == {
        "ads-dlq-reason": "invalid_value", "ads-dlq-detail": "field 'source': expected an IP",
        "ads-dlq-stage": "input", "ads-dlq-source-topic": "ads.events", "ads-dlq-source-partition": "3",
        "ads-dlq-source-offset": "42", "ads-dlq-time": "2026-11-22T00:00:00.000+00:00"}


def test_a_long_detail_is_cut_between_characters_not_inside_one():
    raw = dead_letter_headers(reason="r", detail="é" * 1000, stage="input", topic="t", partition=0, offset=0)
    detail = dict(raw)["ads-dlq-detail"]
    assert len(detail) <= MAX_DETAIL_BYTES
    assert detail.decode("utf-8") == "é" * (MAX_DETAIL_BYTES // 2)


def test_payload_is_kept_whole_below_the_limit_and_cut_with_a_header_above_it():
    assert bounded_payload(b"x" * 10, limit=10) == (b"x" * 10, [])
    assert bounded_payload(b"x" * 11, limit=10) == (b"x" * 10, [("ads-dlq-truncated-from", b"11")])
