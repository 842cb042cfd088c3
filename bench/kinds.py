"""The channel kinds of issue 16 in the ingest benchmark's mix.

Each copy of the base data (bench/ingest.py build()) goes to one kind. A message is re-shaped
as that platform delivers it (a WhatsApp webhook, a YouTube commentThread...) and run through
the connector's own parser, so thread keys, privacy and the stored raw payload are what
production stores. Kept out of the timed part: the benchmark measures ingest, not parsing.

A converter takes (config, message, copy) and returns the parsed IncomingMessage, or None where
the platform would never deliver that message (WhatsApp sends no echo of our own messages).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from inbox.channels.base import ChannelConfig, IncomingMessage

Converter = Callable[[ChannelConfig, IncomingMessage, int], IncomingMessage | None]

OUR_NUMBER = "31850000000"


def _unix(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def _digits(author_id: str, copy: int) -> str:
    """A stable phone-like number for an author of one copy."""
    return "316" + str(zlib.crc32(f"{author_id}/{copy}".encode()) % 10**8).zfill(8)


def whatsapp(config: ChannelConfig, message: IncomingMessage, copy: int) -> IncomingMessage | None:
    from inbox.channels.whatsapp.webhook import parse_delivery

    if message.is_own:
        return None
    wa_id = _digits(message.author_id, copy)
    item: dict = {
        "from": wa_id,
        "id": f"wamid.{message.external_id}",
        "timestamp": _unix(message.created_at),
        "type": "text",
        "text": {"body": message.text},
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": OUR_NUMBER,
                                "phone_number_id": config.settings["phone_number_id"],
                            },
                            "contacts": [
                                {"profile": {"name": message.author_name}, "wa_id": wa_id}
                            ],
                            "messages": [item],
                        },
                    }
                ],
            }
        ],
    }
    (parsed,) = parse_delivery(config, payload).messages
    return parsed


def _number(external_id: str) -> str:
    """A platform-looking numeric id from the benchmark's "<copy>-<tweet id>"."""
    copy, _, tweet_id = external_id.partition("-")
    return f"{int(copy):05d}{tweet_id}"


def _meta_dm(config: ChannelConfig, message: IncomingMessage, copy: int) -> IncomingMessage | None:
    """A Messenger / Instagram Direct webhook delivery of a customer's message. Our own messages
    are left out: an echo names the customer it answers, which the base data does not carry."""
    from inbox.channels.messenger.webhook import parse_delivery, platform_of

    if message.is_own:
        return None
    platform = platform_of(config.kind)
    account = config.settings[platform.account_setting]
    customer = _digits(message.author_id, copy)
    payload = {
        "object": platform.webhook_object,
        "entry": [
            {
                "id": account,
                "time": int(message.created_at.timestamp() * 1000),
                "messaging": [
                    {
                        "sender": {"id": customer},
                        "recipient": {"id": account},
                        "timestamp": int(message.created_at.timestamp() * 1000),
                        "message": {"mid": f"m_{message.external_id}", "text": message.text},
                    }
                ],
            }
        ],
    }
    (parsed,) = parse_delivery(config, payload).messages
    return parsed


OUR_X_ID = "1500000000000000001"


def x_dm(config: ChannelConfig, message: IncomingMessage, copy: int) -> IncomingMessage | None:
    """An X DM event as GET /2/dm_events returns it. Our own messages are left out (they would
    need the customer they answer, which the base data does not carry)."""
    from inbox.channels.x_dm import parse_event

    if message.is_own:
        return None
    customer = str(1_000_000 + zlib.crc32(f"{message.author_id}/{copy}".encode()) % 10**9)
    event = {
        "id": _number(message.external_id),
        "event_type": "MessageCreate",
        "text": message.text,
        "sender_id": customer,
        "dm_conversation_id": f"{min(customer, OUR_X_ID)}-{max(customer, OUR_X_ID)}",
        "created_at": message.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    users = {customer: {"id": customer, "username": message.author_handle, "name": ""}}
    return parse_event(event, OUR_X_ID, users, {}, {})


OUR_ORGANIZATION = "urn:li:organization:2414183"


def linkedin(config: ChannelConfig, message: IncomingMessage, copy: int) -> IncomingMessage | None:
    """A comment under one of the organisation's posts, as the Comments API lists it; the
    organisation's own replies included (their actor is the organisation)."""
    from inbox.channels.linkedin.connector import comment_message

    post = f"urn:li:activity:{7_400_000_000_000_000_000 + copy}"
    actor = (
        OUR_ORGANIZATION
        if message.is_own
        else f"urn:li:person:{zlib.crc32(f'{message.author_id}/{copy}'.encode()):x}"
    )
    urn = f"urn:li:comment:({post},{_number(message.external_id)})"
    created = {"actor": actor, "time": int(message.created_at.timestamp() * 1000)}
    comment: dict = {
        "actor": actor,
        "commentUrn": urn,
        "created": created,
        "lastModified": created,
        "id": _number(message.external_id),
        "message": {"attributes": [], "text": message.text},
        "object": post,
    }
    if message.parent_external_id:
        comment["parentComment"] = f"urn:li:comment:({post},{_number(message.parent_external_id)})"
    return comment_message(comment, organization=OUR_ORGANIZATION)


OUR_YOUTUBE_CHANNEL = "UCq7Wd3kLmN0pQrStUvWxYzA"
_YOUTUBE_TOPS: dict[str, str] = {}  # a comment's external id -> its thread's top comment


def youtube(config: ChannelConfig, message: IncomingMessage, copy: int) -> IncomingMessage | None:
    """A comment resource as commentThreads.list / comments.list return it; our channel's own
    replies included. YouTube nests one level: every reply belongs to the thread's top comment,
    so the top comment of each chain is remembered (build() hands messages over parents first)."""
    from inbox.channels.youtube.connector import comment_message

    comment_id = f"Ugz{_number(message.external_id)}"
    parent = message.parent_external_id
    top = _YOUTUBE_TOPS.get(parent, parent) if parent else message.external_id
    _YOUTUBE_TOPS[message.external_id] = top
    thread_id = f"Ugz{_number(top)}" if parent else ""
    author = (
        OUR_YOUTUBE_CHANNEL
        if message.is_own
        else f"UC{zlib.crc32(f'{message.author_id}/{copy}'.encode()):022d}"
    )
    video_id = f"v{copy:010d}"
    snippet: dict = {
        "channelId": OUR_YOUTUBE_CHANNEL,
        "videoId": video_id,
        "textDisplay": message.text,
        "textOriginal": message.text,
        "authorDisplayName": f"@{message.author_handle}",
        "authorChannelId": {"value": author},
        "publishedAt": message.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updatedAt": message.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if thread_id:
        snippet["parentId"] = thread_id
        resource = {
            "kind": "youtube#comment",
            "id": f"{thread_id}.{comment_id}",
            "snippet": snippet,
        }
    else:
        resource = {"kind": "youtube#comment", "id": comment_id, "snippet": snippet}
    return comment_message(
        resource,
        thread_id=thread_id or comment_id,
        video_id=video_id,
        own_channel_id=OUR_YOUTUBE_CHANNEL,
    )


@dataclass(frozen=True, slots=True)
class Kind:
    channel_kind: str  # Channel.kind of the channels it fills (X DMs come in on an X channel)
    settings: dict
    convert: Converter

    def config(self) -> ChannelConfig:
        return ChannelConfig(id=0, kind=self.channel_kind, settings=self.settings)


KINDS: dict[str, Kind] = {
    "whatsapp": Kind("whatsapp", {"phone_number_id": "106540352242922"}, whatsapp),
    "messenger": Kind("messenger", {"page_id": "104412345678901"}, _meta_dm),
    "instagram_direct": Kind("instagram_direct", {"ig_user_id": "17841405822304914"}, _meta_dm),
    "x_dm": Kind("x", {"direct_messages": True}, x_dm),
    "linkedin": Kind("linkedin", {"organization_id": "2414183"}, linkedin),
    "youtube": Kind("youtube", {"channel_id": OUR_YOUTUBE_CHANNEL}, youtube),
}
