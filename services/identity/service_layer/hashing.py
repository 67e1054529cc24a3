"""Where argon2id runs: one or two threads of its own.

Each argon2id computation holds 19 MiB (``domain/passwords.py``, OWASP parameters) for ~20 ms
of one core. Run on asyncio's default executor (up to cores + 4 threads), a burst of logins
hashed 6 passwords at once on 2 cores: no faster — the cores were already busy — but 114 MiB
of working memory, and glibc kept those buffers in its per-thread arenas afterwards (the
identity process peaked at 193 MB in the issue 8 login benchmark; the goal is < 150 MB).

So: at most ``HASH_THREADS`` hashes at a time (1 on 2 cores) (further logins queue for a few milliseconds,
which also caps what a flood of login attempts can take from the other requests — OWASP
Password Storage Cheat Sheet on hashing as a denial-of-service vector), and buffers of 4 MiB or
more are handed back to the system when freed (glibc ``mallopt(M_MMAP_THRESHOLD)``: a fixed
threshold, instead of the dynamic one that grows after the first large free and then keeps
such buffers in the heap).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# The rest of a login (pages, tokens, database) is Python on the event loop's thread, one core
# at most; argon2-cffi releases the GIL, so one hashing thread beside it already keeps a second
# core busy, and a process never gains from more than two.
HASH_THREADS = max(1, min(2, (os.cpu_count() or 1) - 1))
_M_MMAP_THRESHOLD = -3          # glibc malloc.h
_MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024

_executor: concurrent.futures.ThreadPoolExecutor | None = None


def _return_large_buffers_to_the_system() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):   # not glibc (musl has no mallopt): nothing to tune
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _return_large_buffers_to_the_system()
        _executor = concurrent.futures.ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")
    return _executor


async def run(function: Callable[..., T], *args) -> T:
    """``function(*args)`` (a hash or a verification) on the hashing threads."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), function, *args)
