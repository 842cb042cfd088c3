"""Short-lived, per-process copies of small reference lists: teams, their members, FAQ sets.

Every staff page and every saved reply shows them, and they change a few times a day; reading
them cost a query each on every request. Permissions are never
cached here: who may see or do what is read per request.

A save or delete of a model listed in inbox.apps clears this process's copies at once
(signals), and other processes see the change within TTL seconds. Bulk updates that send no
signals are covered by the TTL alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")

TTL_SECONDS = 30.0

_lock = threading.Lock()
_entries: dict[Hashable, tuple[float, object]] = {}


def cached(key: Hashable, build: Callable[[], T]) -> T:
    """The value under key, built by build() when missing or older than TTL_SECONDS.

    Callers treat the value as read-only: it is shared by every request of the process.
    """
    now = time.time()  # wall time, so frozen-clock tests can move past the TTL
    entry = _entries.get(key)
    # The second test: a clock set back must not stretch a copy's life.
    if entry is not None and now < entry[0] <= now + TTL_SECONDS:
        return entry[1]  # type: ignore[return-value]
    value = build()
    with _lock:
        _entries[key] = (now + TTL_SECONDS, value)
    return value


def clear(*_args, **_kwargs) -> None:
    """Forget every copy (a signal receiver, hence the ignored arguments)."""
    with _lock:
        _entries.clear()
