"""Contacts: one upsert per batch for the authors of its messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from inbox.channels.base import IncomingMessage
from inbox.models import (
    Channel,
    Contact,
    ContactTag,
    Flag,
)
from inbox.services.ingest.cleaning import ANONYMOUS_AUTHOR, clip, web_url
from webcare.db import bulk_insert


def author_key(m: IncomingMessage) -> str:
    return clip(m.author_id or m.author_handle or ANONYMOUS_AUTHOR, 255)


def upsert_contacts(
    channel: Channel, new: list[IncomingMessage], now: datetime
) -> tuple[dict[str, int], dict[int, int], int]:
    """One Contact per author per channel. Returns author -> id, id -> flags, number created."""
    authors: dict[str, IncomingMessage] = {}
    for m in new:  # the newest message wins for name and avatar
        authors[author_key(m)] = m
    known = _load_contacts(channel.pk, list(authors))
    ids = {ext: row[0] for ext, row in known.items()}
    flags = {row[0]: row[1] for row in known.values()}

    missing = [ext for ext in authors if ext not in known]
    created = 0
    if missing:
        values: dict[str, list[Any]] = {
            "channel_id": [channel.pk] * len(missing),
            "external_id": missing,
            "handle": [clip(authors[e].author_handle, 255) for e in missing],
            "name": [clip(authors[e].author_name, 255) for e in missing],
            "avatar_url": [web_url(authors[e].author_avatar_url) for e in missing],
            "profile_url": [web_url(authors[e].author_profile_url) for e in missing],
            "is_own_account": [bool(authors[e].is_own) for e in missing],
        }
        returned = bulk_insert(
            Contact,
            values,
            now=now,
            conflict_target=("channel_id", "external_id"),
            returning=("id", "external_id"),
        )
        created = len(returned)
        for cid, ext in returned:
            ids[ext] = cid
            flags[cid] = 0
        lost = [e for e in missing if e not in ids]
        if lost:  # created meanwhile by another path: read them back
            for ext, row in _load_contacts(channel.pk, lost).items():
                ids[ext] = row[0]
                flags[row[0]] = row[1]

    # Refresh names and avatars that changed (rare); never touch anonymised contacts.
    changed = [
        (known[e][0], authors[e])
        for e in known
        if not known[e][3]
        and (
            (authors[e].author_handle and authors[e].author_handle != known[e][2][0])
            or (authors[e].author_name and authors[e].author_name != known[e][2][1])
        )
    ]
    if changed:
        objs = [
            Contact(
                pk=cid,
                handle=clip(m.author_handle, 255),
                name=clip(m.author_name, 255),
                avatar_url=web_url(m.author_avatar_url),
                profile_url=web_url(m.author_profile_url),
            )
            for cid, m in changed
        ]
        Contact.objects.bulk_update(objs, ["handle", "name", "avatar_url", "profile_url"])
    return ids, flags, created


def _load_contacts(
    channel_id: int, external_ids: list[str]
) -> dict[str, tuple[int, int, tuple[str, str], bool]]:
    """external id -> (id, flags it lends its conversations, (handle, name), anonymised)."""
    found = Contact.objects.filter(channel_id=channel_id, external_id__in_array=external_ids)
    rows = [
        (cid, ext, handle, name, ContactTag.VIP in tags, ContactTag.PRESS in tags, fake, anon)
        for cid, ext, handle, name, tags, fake, anon in found.values_list(
            "id", "external_id", "handle", "name", "tags", "is_fake", "anonymised_at"
        )
    ]
    out = {}
    for cid, ext, handle, name, vip, press, is_fake, anonymised in rows:
        bits = 0
        if is_fake:
            bits |= Flag.FAKE_ACCOUNT
        if vip:
            bits |= Flag.VIP
        if press:
            bits |= Flag.PRESS
        out[ext] = (cid, int(bits), (handle, name), bool(anonymised))
    return out
