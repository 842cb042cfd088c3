"""Messenger (a Facebook Page's inbox) and Instagram Direct (a professional account's DMs).

One package for both: they share Meta's webhook shape (``entry[].messaging[]``) and Send API; what
differs is named in webhook.Platform. webhook.py parses deliveries (messages, echoes, receipts,
deletions); connector.py sends within the messaging window and finds a reply whose outcome is
unknown. The signature and handshake are Meta's (inbox.channels.meta): one copy for all.
"""

from inbox.channels.messenger.connector import (
    InstagramDirectConnector,
    MessengerConnector,
    raise_for_send_error,
)
from inbox.channels.messenger.webhook import (
    INSTAGRAM_DIRECT,
    MESSENGER,
    PLATFORMS,
    Delivery,
    Platform,
    Watermark,
    parse_delivery,
    platform_of,
    thread_key,
)

__all__ = [
    "INSTAGRAM_DIRECT",
    "MESSENGER",
    "PLATFORMS",
    "Delivery",
    "InstagramDirectConnector",
    "MessengerConnector",
    "Platform",
    "Watermark",
    "parse_delivery",
    "platform_of",
    "raise_for_send_error",
    "thread_key",
]
