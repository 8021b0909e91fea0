"""``give_back_large_blocks``: after it, a large block is mapped on its own even once a
larger one was freed (glibc would otherwise have raised its threshold and served it from the
heap, where freed memory stays with the process). Each case runs in a fresh interpreter, so
this process's malloc is left as it is."""

from __future__ import annotations

import subprocess
import sys

import pytest

from daemon.ingest.stream_worker import PACKAGE_ROOT

PROBE = """
import ctypes, sys
from daemon.malloc import give_back_large_blocks

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd",
        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "fixed":
    assert give_back_large_blocks()
libc.free(libc.malloc(8 << 20))  # mapped on its own, freed: glibc raises its threshold
before = libc.mallinfo2().hblks
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblks - before)
"""


def _mapped_blocks_after(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PACKAGE_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_large_block_stays_mapped_on_its_own_after_a_larger_one_is_freed() -> None:
    assert _mapped_blocks_after("default") == 0  # glibc's own way: from the heap
    assert _mapped_blocks_after("fixed") == 1
