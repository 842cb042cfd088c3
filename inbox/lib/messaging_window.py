"""When a business may message a customer privately: Meta's messaging windows, pure rules (no DB).

WhatsApp and Meta's DMs (Messenger, Instagram Direct) share the rule's shape: free messages for 24
hours after the customer's last message (the "standard messaging window"), then a narrower way
out. What each allows after the 24 hours:

- WhatsApp: an approved template only (until the customer writes again);
- Messenger and Instagram Direct: a message tagged HUMAN_AGENT up to 7 days after the customer's
  last message, and only for an app Meta granted the Human Agent permission (channel setting
  ``human_agent: true``); after the 7 days nothing at all.

The reply service checks these at submit and again at approval (a review may take hours); the
Messenger connector checks them once more when it picks the message type, so a reply approved at
23:59 is never sent untagged at 24:01.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT_TAG = "HUMAN_AGENT"
WHATSAPP = "whatsapp"
META_DM_KINDS = frozenset({"messenger", "instagram_direct"})
# Kinds where every conversation is a private chat bound by a window.
CHAT_KINDS = META_DM_KINDS | {WHATSAPP}


@dataclass(frozen=True, slots=True)
class WindowState:
    open: bool  # a free message may go out now (with `tag` when one is needed)
    closes_at: datetime | None  # the end of the 24-hour window; None: the customer never wrote
    tag: str = ""  # "HUMAN_AGENT": past the 24 hours, inside the human-agent window
    tag_until: datetime | None = None  # the end of the human-agent window, when it applies


def window_state(
    kind: str, last_inbound_at: datetime | None, now: datetime, *, human_agent: bool = False
) -> WindowState:
    if last_inbound_at is None:
        return WindowState(open=False, closes_at=None)
    closes_at = last_inbound_at + WINDOW
    if now < closes_at:
        return WindowState(open=True, closes_at=closes_at)
    if kind in META_DM_KINDS and human_agent:
        until = last_inbound_at + HUMAN_AGENT_WINDOW
        return WindowState(
            open=now < until, closes_at=closes_at, tag=HUMAN_AGENT_TAG, tag_until=until
        )
    return WindowState(open=False, closes_at=closes_at)
