"""The whole blocks of a pcapng file that dumpcap is still writing: its last block may be half
written, and mergecap refuses a file cut short in the middle of a packet."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

SECTION_HEADER = 0x0A0D0D0A  # the same in either byte order
BYTE_ORDER_MAGIC = 0x1A2B3C4D
_HEADER = 12  # block type, block length, and the section header's byte-order magic


def complete_length(stream: BinaryIO, size: int) -> int:
    """Bytes of the whole blocks at the start of a pcapng stream of ``size`` bytes."""
    offset, order = 0, "<"
    while offset + _HEADER <= size:
        stream.seek(offset)
        header = stream.read(_HEADER)
        if len(header) < _HEADER:
            break
        if struct.unpack("<I", header[:4])[0] == SECTION_HEADER:
            # Each section says its byte order; the blocks after it follow it.
            order = "<" if struct.unpack("<I", header[8:12])[0] == BYTE_ORDER_MAGIC else ">"
        length = struct.unpack(order + "I", header[4:8])[0]
        if length < _HEADER or length % 4 or offset + length > size:
            break
        offset += length
    return offset


def copy_complete_blocks(source: Path, destination: Path) -> None:
    with source.open("rb") as reader, destination.open("wb") as writer:
        remaining = complete_length(reader, source.stat().st_size)
        reader.seek(0)
        while remaining:
            chunk = reader.read(min(remaining, 1 << 20))
            if not chunk:
                break
            writer.write(chunk)
            remaining -= len(chunk)

