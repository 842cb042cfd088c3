"""Reads for "continue privately": whether it is offered, and the conversations it linked.

Every read filters what the user may see (inbox.selectors.team.may_see_team): a private
conversation another team works on is not shown, not even its number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q
from django.utils.translation import gettext as _

from inbox.models import OPEN_STATUSES, Channel, Conversation
from inbox.selectors import inbox as inbox_selectors
from inbox.selectors.team import may_see_team
from inbox.services import handover
from inbox.services.whatsapp import Template, templates_of


@dataclass(frozen=True, slots=True)
class HandoverChoice:
    """What the "Continue privately" form offers on a conversation."""

    offered: bool
    why_not: str = ""  # shown instead of the action where it is not offered
    same_platform: bool = False
    whatsapp: list[Channel] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    parameter_slots: range = range(0)
    notice_same: str = ""
    notice_whatsapp: str = ""


def handover_choice(conversation: Conversation) -> HandoverChoice:
    if not conversation.is_public:
        return HandoverChoice(offered=False)  # private already: nothing to offer, no hint
    if not conversation.is_open:
        return HandoverChoice(offered=False, why_not=_("Reopen the conversation first."))
    same = handover.private_thread_key(conversation) is not None
    numbers = handover.whatsapp_channels()
    if not same and not numbers:
        return HandoverChoice(
            offered=False,
            why_not=_(
                "Continuing privately is not possible here: the inbox has no direct messages on "
                "%(platform)s, and no WhatsApp number is set up in Settings → Channels."
            )
            % {"platform": conversation.channel.get_kind_display()},
        )
    templates: dict[str, Template] = {}
    for channel in numbers:
        for template in templates_of(channel):
            templates.setdefault(template.key, template)
    return HandoverChoice(
        offered=True,
        same_platform=same,
        whatsapp=numbers,
        templates=list(templates.values()),
        parameter_slots=range(1, max((t.parameters for t in templates.values()), default=0) + 1),
        notice_same=handover.notice_text(conversation, handover.SAME_PLATFORM) if same else "",
        notice_whatsapp=handover.notice_text(conversation, handover.WHATSAPP) if numbers else "",
    )


def linked_conversations(user, conversation: Conversation) -> list[Conversation]:
    """The private conversation this one continued in, and the public ones that continued in
    this one, that user may see; oldest first."""
    if conversation.is_public and conversation.continued_in_id is None:
        return []  # only a private conversation is continued in: no query on the common path
    link = Q(continued_in_id=conversation.pk)
    if conversation.continued_in_id:
        link |= Q(pk=conversation.continued_in_id)
    found = (
        Conversation.objects.filter(link)
        .select_related("channel")
        .only(
            "id",
            "is_public",
            "status",
            "department_id",
            "received_at",
            "channel__name",
            "channel__kind",
        )
        .order_by("received_at", "id")
    )
    return [c for c in found if may_see_team(user, c.department_id)]


def open_private(links: list[Conversation], conversation: Conversation) -> Conversation | None:
    """The open private conversation this one already continues in, if any."""
    return next(
        (c for c in links if c.pk == conversation.continued_in_id and c.status in OPEN_STATUSES),
        None,
    )


def contact_history(user, conversation: Conversation) -> list[Conversation]:
    """The contact's other conversations, public and private (linked ones too), newest first:
    those of the teams user may see."""
    return [
        c
        for c in inbox_selectors.contact_history(conversation)
        if may_see_team(user, c.department_id)
    ]
