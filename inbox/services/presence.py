"""Who is viewing a conversation: a short-lived cache entry per conversation (Redis in production).

The open panel polls every PRESENCE_POLL_SECONDS and refreshes the viewer's entry; an entry not
refreshed within PRESENCE_TTL_SECONDS is gone, so a closed tab disappears by itself. A lost update
between two simultaneous viewers costs at most one poll interval of accuracy: acceptable, since
the optimistic version check is what actually prevents acting twice.
"""

from __future__ import annotations

import time

from django.core.cache import cache

PRESENCE_POLL_SECONDS = 10
PRESENCE_TTL_SECONDS = 30


def _key(conversation_id: int) -> str:
    return f"presence:conversation:{conversation_id}"


def touch(conversation_id: int, user) -> None:
    now = time.time()
    viewers = cache.get(_key(conversation_id)) or {}
    viewers = {uid: v for uid, v in viewers.items() if v[1] > now}
    viewers[str(user.pk)] = (str(user), now + PRESENCE_TTL_SECONDS)
    cache.set(_key(conversation_id), viewers, PRESENCE_TTL_SECONDS)


def leave(conversation_id: int, user) -> None:
    viewers = cache.get(_key(conversation_id)) or {}
    if viewers.pop(str(user.pk), None) is not None:
        cache.set(_key(conversation_id), viewers, PRESENCE_TTL_SECONDS)


def viewers_of(conversation_ids: list[int], *, exclude_user=None) -> dict[int, list[str]]:
    """{conversation_id: [names]} for many conversations in one cache round trip."""
    if not conversation_ids:
        return {}
    now = time.time()
    found = cache.get_many([_key(pk) for pk in conversation_ids])
    skip = str(exclude_user.pk) if exclude_user is not None else None
    result: dict[int, list[str]] = {}
    for pk in conversation_ids:
        viewers = found.get(_key(pk)) or {}
        names = sorted(
            name for uid, (name, until) in viewers.items() if until > now and uid != skip
        )
        if names:
            result[pk] = names
    return result
