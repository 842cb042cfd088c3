"""WhatsApp's rules around a reply: the 24-hour customer-service window, approved templates,
and the status callbacks that follow a sent message.

Free text may go to a customer only within 24 hours of their last message; after that WhatsApp
accepts only an approved template. The rule is checked here, in the service every path goes
through (composer, review, API), not only in the composer. Templates are configured per channel
(Channel.config["templates"]: name, language, parameters, optional body preview with {{1}}...).

Status callbacks (sent/delivered/read/failed) update the reply's delivery state; a callback for a
reply whose send outcome is unknown records the platform's id on the attempt, and the outbox
(queued here) then settles the reply as sent without sending again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.lib.messaging_window import WindowState
from inbox.lib.messaging_window import window_state as shared_window_state
from inbox.models import (
    AttemptOutcome,
    Channel,
    ChannelKind,
    Conversation,
    ConversationEvent,
    DeliveryStatus,
    Reply,
    ReplyAttempt,
    ReplyState,
)
from inbox.services.refusals import ActionRefused
from webcare.jobs import enqueue

log = logging.getLogger(__name__)

MAX_TEMPLATE_PARAMETER = 1024  # characters of one body parameter
# Progress of a message: a late or repeated callback never moves the state back.
RANK = {
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.FAILED: 4,
}


def is_whatsapp(conversation: Conversation) -> bool:
    return conversation.channel.kind == ChannelKind.WHATSAPP


# --- The window ------------------------------------------------------------------------------


def window_state(conversation: Conversation, *, now: datetime | None = None) -> WindowState:
    """The customer-service window: open for 24 hours after the customer's last message
    (the rule is shared with Meta's DMs: inbox/lib/messaging_window.py)."""
    return shared_window_state(
        ChannelKind.WHATSAPP, conversation.last_inbound_at, now or timezone.now()
    )


def window_closed_message() -> str:
    return _(
        "More than 24 hours have passed since the customer's last WhatsApp message. WhatsApp only "
        "accepts an approved template message until the customer writes again: choose a template."
    )


def check_reply_allowed(reply: Reply, *, now: datetime | None = None) -> None:
    """Refuse free text outside the window (templates are always allowed)."""
    conversation = reply.conversation
    if not is_whatsapp(conversation) or reply.template:
        return
    if not window_state(conversation, now=now).open:
        raise ActionRefused(window_closed_message())


# --- Templates -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    language: str
    parameters: int
    body: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}:{self.language}"


def templates_of(channel: Channel) -> list[Template]:
    """The channel's approved templates; entries that are not well-formed are left out."""
    found = []
    for item in (channel.config or {}).get("templates") or ():
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        count = item.get("parameters", 0)
        found.append(
            Template(
                name=item["name"],
                language=str(item.get("language") or "nl"),
                parameters=count if isinstance(count, int) and 0 <= count <= 20 else 0,
                body=str(item.get("body") or ""),
            )
        )
    return found


def choose_template(channel: Channel, key: str, parameters: list[str]) -> tuple[dict, str]:
    """(Reply.template, the readable preview) for a template picked in the composer."""
    template = next((t for t in templates_of(channel) if t.key == key), None)
    if template is None:
        raise ActionRefused(_("Choose one of this channel's approved templates."))
    values = [p.strip() for p in parameters[: template.parameters]]
    if len(values) < template.parameters or not all(values):
        raise ActionRefused(
            _("This template needs %(count)s values: fill in every one.")
            % {"count": template.parameters}
        )
    if any(len(v) > MAX_TEMPLATE_PARAMETER or "\n" in v for v in values):
        raise ActionRefused(
            _("A template value must be one line of at most %(limit)s characters.")
            % {"limit": MAX_TEMPLATE_PARAMETER}
        )
    stored = {"name": template.name, "language": template.language, "parameters": values}
    return stored, preview(template, values)


def preview(template: Template, values: list[str]) -> str:
    if template.body:
        return re.sub(
            r"\{\{(\d+)\}\}",
            lambda m: values[int(m[1]) - 1] if 0 < int(m[1]) <= len(values) else m[0],
            template.body,
        )
    shown = ", ".join(values)
    return f"[{template.name}] {shown}".strip()


# --- Status callbacks ------------------------------------------------------------------------


def record_statuses(*, channel: Channel, statuses: list) -> int:
    """Apply a delivery's status callbacks (whatsapp.StatusUpdate). Returns how many replies moved."""
    changed = 0
    for update in statuses:
        with transaction.atomic():
            changed += _apply(channel, update)
    return changed


def _apply(channel: Channel, update) -> int:
    replies = Reply.objects.select_for_update(no_key=True, of=("self",)).filter(
        conversation__channel=channel
    )
    if update.reply_id is not None:
        reply = replies.filter(pk=update.reply_id).first()
    else:  # sent before biz_opaque_callback_data, or by another tool: match the platform id
        reply = replies.filter(external_id=update.external_id).first()
    if reply is None:
        return 0
    if reply.state != ReplyState.SENT:
        _settle_unknown(reply, update)
    new = DeliveryStatus(update.status)
    current = RANK.get(DeliveryStatus(reply.delivery_status), 0) if reply.delivery_status else 0
    if RANK[new] <= current:
        return 0
    Reply.objects.filter(pk=reply.pk).update(
        delivery_status=new,
        delivery_error=update.error if new == DeliveryStatus.FAILED else "",
        delivery_updated_at=update.at,
    )
    if new == DeliveryStatus.FAILED:
        # The one status a person must act on: WhatsApp accepted the message, then could not
        # deliver it (window closed meanwhile, number not on WhatsApp, ...).
        ConversationEvent.objects.create(
            conversation_id=reply.conversation_id,
            kind="reply_delivery_failed",
            data={"reply": reply.pk, "external_id": update.external_id, "error": update.error},
        )
    return 1


def _settle_unknown(reply: Reply, update) -> None:
    """The platform has this part: note its id on the attempt that has no known outcome, and let
    the outbox finish the reply (it trusts the id and sends nothing again)."""
    noted = ReplyAttempt.objects.filter(
        reply=reply,
        part_index=update.part_index,
        outcome__in=[AttemptOutcome.PENDING, AttemptOutcome.UNKNOWN],
        external_id="",
    ).update(external_id=update.external_id[:255])
    if noted and reply.state in (ReplyState.UNKNOWN, ReplyState.FAILED):
        # (Failed here: the outbox gave up asking.) A reply held in "sending" by a dead worker
        # is picked up by recover_outbox once its lease runs out, and finds the id the same way.
        log.info("reply %s: status callback settles an unknown outcome", reply.pk)
        Reply.objects.filter(pk=reply.pk).update(state=ReplyState.UNKNOWN)
        enqueue("inbox.send_reply", reply.pk)
