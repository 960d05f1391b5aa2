"""Avro schemas of every message ads-actions writes, and of Avro input.

``*.avsc`` here are the current schemas (file names follow fastavro's ``namespace.Name.avsc``
convention so named types resolve). ``history/`` holds every schema version ever written, under its
CRC-64-AVRO fingerprint, so old messages stay readable: see README.md for the evolution rule.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import fastavro
import fastavro.schema

SCHEMA_DIR = Path(__file__).parent
HISTORY_DIR = SCHEMA_DIR / "history"
CURRENT_NAMES = ("ads_actions.AdsEvent", "ads_actions.IdsEvent", "ads_actions.RoutedAction")


@lru_cache(maxsize=None)
def current_schema(name: str) -> dict:
    """The parsed current schema of a named record, with referenced types expanded."""
    return fastavro.schema.load_schema(SCHEMA_DIR / f"{name}.avsc", _write_hint=False)


def fingerprint(parsed: dict) -> bytes:
    """CRC-64-AVRO of the Parsing Canonical Form, as Avro single-object encoding carries it."""
    return bytes.fromhex(fastavro.schema.fingerprint(fastavro.schema.to_parsing_canonical_form(parsed),
                                                     "CRC-64-AVRO"))


@lru_cache(maxsize=None)
def historical_schemas() -> dict[bytes, dict]:
    """Every recorded writer schema, by fingerprint."""
    schemas = {}
    for path in sorted(HISTORY_DIR.glob("*.avsc")):
        parsed = fastavro.parse_schema(fastavro.schema.load_schema(path, _write_hint=False))
        schemas[fingerprint(parsed)] = parsed
    return schemas
