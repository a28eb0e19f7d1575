"""A fixed glibc mmap threshold, so large blocks go back to the OS when freed. No rclpy.

By default glibc raises its mmap threshold to the size of the largest mmapped block freed so far
(up to 32 MiB). After that, blocks of that size (camera frames of ~1 MB, scrypt's 16 MiB buffer)
are carved from the heap arenas instead, and the holes they leave keep a long-running process's
RSS creeping up in steps: the teleop bridge grew by 16 MB at its second login, the recorder by
~10 MB over a week of frames. Pinning the threshold turns the dynamic adjustment off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

_M_MMAP_THRESHOLD = -3  # glibc's option numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
DEFAULT_THRESHOLD_BYTES = 256 * 1024


def _glibc_function(name: str) -> Any:
    """The named libc function, or None where libc is not glibc."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    try:
        return getattr(ctypes.CDLL(libc_name), name)
    except (OSError, AttributeError):
        return None


def pin_mmap_threshold(threshold_bytes: int = DEFAULT_THRESHOLD_BYTES, trim_bytes: int | None = None) -> bool:
    """Serve every block of ``threshold_bytes`` or more with its own mmap, always; ``trim_bytes``:
    also keep up to that much free memory at the heap's top (else glibc's 128 kB while pinned).
    False where libc is not glibc (nothing changes there)."""
    mallopt = _glibc_function("mallopt")
    if mallopt is None or not mallopt(_M_MMAP_THRESHOLD, int(threshold_bytes)):
        return False
    return trim_bytes is None or bool(mallopt(_M_TRIM_THRESHOLD, int(trim_bytes)))


def release_free_memory() -> bool:
    """Give the free pages inside the heap back to the OS (glibc's malloc_trim). Many small blocks
    freed at once (a closed MCAP file's chunk indexes) leave pages free between live blocks, which
    glibc keeps unless asked. True if any memory went back."""
    malloc_trim = _glibc_function("malloc_trim")
    return malloc_trim is not None and bool(malloc_trim(0))
