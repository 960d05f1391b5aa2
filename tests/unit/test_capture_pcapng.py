"""The whole blocks of a pcapng file still being written, in either byte order."""

from __future__ import annotations

import io
import struct

import pytest

from streams.capture_agent.pcapng import complete_length, copy_complete_blocks


def block(order: str, block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack(order + "II", block_type, length) + body + struct.pack(order + "I", length)


def section(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


@pytest.mark.parametrize("order", ["<", ">"])
def test_a_file_cut_anywhere_keeps_its_whole_blocks(order):
    blocks = [section(order), block(order, 1, b"\0" * 8), block(order, 6, b"\1" * 40), block(order, 6, b"\2" * 64)]
    data = b"".join(blocks)
    ends = [sum(len(b) for b in blocks[:n]) for n in range(len(blocks) + 1)]
    for size in range(len(data) + 1):
        expected = max(end for end in ends if end <= size)
        assert complete_length(io.BytesIO(data[:size]), size) == expected


def test_a_corrupt_length_ends_the_whole_blocks():
    data = section("<") + struct.pack("<II", 6, 13) + b"\0" * 20
    assert complete_length(io.BytesIO(data), len(data)) == len(section("<"))


def test_the_copy_holds_the_whole_blocks_only(tmp_path):
    whole = section("<") + block("<", 6, b"\3" * 16)
    (tmp_path / "ring.pcapng").write_bytes(whole + block("<", 6, b"\4" * 16)[:10])
    copy_complete_blocks(tmp_path / "ring.pcapng", tmp_path / "copy.pcapng")
    assert (tmp_path / "copy.pcapng").read_bytes() == whole
