"""WhatsApp Business (Cloud API): customers' private messages in, replies and templates out.

webhook.py parses deliveries (messages and status callbacks); connector.py sends. The webhook's
signature and handshake are Meta's (inbox.channels.meta): one copy for every Meta product.
"""

from inbox.channels.whatsapp.connector import (
    WINDOW,
    WhatsAppConnector,
    WindowClosed,
    template_payload,
)
from inbox.channels.whatsapp.webhook import (
    Delivery,
    StatusUpdate,
    callback_data,
    parse_delivery,
    thread_key,
)

__all__ = [
    "WINDOW",
    "Delivery",
    "StatusUpdate",
    "WhatsAppConnector",
    "WindowClosed",
    "callback_data",
    "parse_delivery",
    "template_payload",
    "thread_key",
]
