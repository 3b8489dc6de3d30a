"""A release's files are written around the page cache where the filesystem allows it, and
hashed on the way: whatever the sizes written, the file holds exactly the bytes given and its
SHA-256 is theirs; a filesystem without O_DIRECT gets an ordinary file."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import random
from pathlib import Path

import pytest

from exports import writers

# Around the 4 KiB blocks and the 1 MiB staging buffer, and writes larger than that buffer.
SIZES = [0, 1, 4095, 4096, 4097, 8 << 20, (8 << 20) + 3, (20 << 20) + 11, 100]


def written_with(path: Path, sizes) -> tuple[bytes, writers.HashingFile]:
    rng = random.Random(7)
    expected = bytearray()
    file = writers.HashingFile(path)
    for size in sizes:
        chunk = rng.randbytes(size)
        assert file.write(chunk) == size
        expected += chunk
        assert file.tell() == len(expected)
    file.close()
    file.close()  # a second close changes nothing
    return bytes(expected), file


@pytest.mark.parametrize("sizes", [SIZES, [5], [], [4096] * 3, [3] * 5000])
def test_the_file_holds_the_bytes_written_and_their_hash(tmp_path, sizes):
    expected, file = written_with(tmp_path / "t.jsonl", sizes)
    assert (tmp_path / "t.jsonl").read_bytes() == expected
    assert file.digest == hashlib.sha256(expected).hexdigest() == writers.sha256_of(tmp_path / "t.jsonl")


def test_it_writes_directly_where_the_filesystem_allows_it(tmp_path):
    file = writers.HashingFile(tmp_path / "direct.bin")
    try:
        if file._fd is None:
            pytest.skip(f"{tmp_path} does not take O_DIRECT")
        assert fcntl.fcntl(file._fd, fcntl.F_GETFL) & os.O_DIRECT
    finally:
        file.close()


def test_a_filesystem_without_o_direct_gets_an_ordinary_file(tmp_path, monkeypatch):
    real_open = os.open

    def refusing(path, flags, *args):  # as a filesystem without O_DIRECT answers
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(writers.os, "open", refusing)
    expected, file = written_with(tmp_path / "t.bin", SIZES)
    assert file._fd is None and file._fh is not None
    assert (tmp_path / "t.bin").read_bytes() == expected and file.digest == hashlib.sha256(expected).hexdigest()
