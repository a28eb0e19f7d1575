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

_M_MMAP_THRESHOLD = -3  # glibc's option number (malloc.h)
DEFAULT_THRESHOLD_BYTES = 256 * 1024


def pin_mmap_threshold(threshold_bytes: int = DEFAULT_THRESHOLD_BYTES) -> bool:
    """Serve every block of ``threshold_bytes`` or more with its own mmap, always.
    False where libc is not glibc (nothing changes there)."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    try:
        mallopt = ctypes.CDLL(libc_name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, int(threshold_bytes)))
