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


# kind -> (the channel's settings, converter)
KINDS: dict[str, tuple[dict, Converter]] = {
    "whatsapp": ({"phone_number_id": "106540352242922"}, whatsapp),
}
