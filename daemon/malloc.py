"""Large freed blocks given back to the system at once (glibc's malloc).

glibc serves a block of 128 KiB or more with a mapping of its own, unmapped when freed, but
it raises that threshold to the size of each such block freed, up to 32 MiB. After a large
file's first chunks, the arrays and buffers of the next ones then come from the heap, where
what is freed mostly stays with the process. A fixed threshold (``mallopt``, which also stops
the raising) keeps them mapped and unmapped: a lower peak RSS on a large file
(docs/performance.md, "Memory, with the near-duplicate search on").

Only for the commands that import files (ctypes costs a few milliseconds to load), and not
in the second process that reads large files (``stream_child``): there, where the parse's
many large buffers are made and freed, the mappings' page faults made a file's import slower.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
LARGE_BLOCK = 256 * 1024  # from this size a block is mapped on its own


def give_back_large_blocks(threshold: int = LARGE_BLOCK) -> bool:
    """Fix glibc's threshold for blocks mapped on their own; False where there is no glibc
    (another C library, another system): nothing changes there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
