"""A UTF-16 or UTF-32 file read as UTF-8 bytes, a chunk at a time.

The streaming readers (``handlers.streaming``) read UTF-8: yajl takes nothing else, and
JSON Lines are split at the byte ``\\n``. A file with a UTF-16 or UTF-32 BOM, which the
whole read decodes in one go (``handlers.text.decode_text``), is handed to them through this
view instead, so it streams too rather than costing several times its size in memory.

The view decodes from the file's first byte, its BOM included: the BOM becomes a UTF-8 BOM,
which the readers skip exactly once, as ``decode_text`` skips one BOM. Text the whole read
could not decode (a lone surrogate in UTF-16) raises ``UnicodeDecodeError``: the readers
leave such a file to the whole read, which says why.
"""

from __future__ import annotations

import codecs
import io
from typing import BinaryIO

from handlers.text import BOMS

_READ = 1 << 16  # bytes of the file decoded at a time


def foreign_encoding(head: bytes) -> str | None:
    """The encoding a file's first bytes announce by a BOM, unless it is UTF-8 (or none)."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return None if name == "utf-8" else name
    return None


class _Utf8Raw(io.RawIOBase):
    """The file's text as UTF-8, from its start; it can only go back to the start."""

    def __init__(self, source: BinaryIO, encoding: str) -> None:
        super().__init__()
        self.source = source
        self.encoding = encoding
        self._rewind()

    def _rewind(self) -> None:
        self.source.seek(0)
        self.decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        self.pending = b""  # encoded, not handed out yet
        self.position = 0  # bytes handed out
        self.ended = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True  # to the start only: what the readers do between passes

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) != (0, io.SEEK_SET):
            raise io.UnsupportedOperation("a UTF-8 view only goes back to its start")
        self._rewind()
        return 0

    def tell(self) -> int:
        return self.position

    # ``Buffer`` (what typeshed names) is in collections.abc from Python 3.12 only
    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self.pending and not self.ended:
            data = self.source.read(_READ)
            self.ended = not data
            self.pending = self.decoder.decode(data, final=self.ended).encode("utf-8")
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        self.position += count
        return count


def utf8_view(source: BinaryIO, encoding: str | None) -> BinaryIO:
    """``source`` itself (UTF-8), or its text as UTF-8 bytes, read from its start."""
    if encoding is None:
        return source
    return io.BufferedReader(_Utf8Raw(source, encoding), _READ)
