"""Continue privately: from a public mention to a private conversation with the same customer.

Webcare moves a conversation to a private message as soon as personal details (address,
contract number) come up. One call here, in one transaction:

1. finds the open private conversation with the customer, or opens one: on the same platform
   (an X mention goes on in the X direct messages of the same channel, thread "dm:<user id>",
   the key X DM ingest uses) or on the organisation's WhatsApp (thread "wa:<number id>:<wa_id>",
   the key WhatsApp ingest uses), with the public conversation's team and assignee;
2. links the public conversation to it (Conversation.continued_in);
3. drafts or submits the agent's first private message there and the public notice ("we have
   sent you a direct message") on the mention, both through the normal reply flow (review
   rules, outbox, exactly once): nothing is posted from here;
4. writes one "continued_privately" event on the public conversation.

Clicking twice hands over once: while the linked private conversation is open, a second call
returns it and writes nothing. Sending happens after commit (the outbox tasks, via replies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inbox.models import (
    OPEN_STATUSES,
    Channel,
    ChannelKind,
    Contact,
    Conversation,
    ConversationEvent,
    Status,
)
from inbox.selectors.team import may_act_on
from inbox.services import replies
from inbox.services.refusals import ActionRefused
from webcare import refcache

SAME_PLATFORM = "same"
WHATSAPP = "whatsapp"

# The public notice, in the conversation's language (the agent may edit it in the form).
NOTICE = {
    SAME_PLATFORM: gettext_lazy(
        "We have sent you a direct message so we can help with your personal details."
    ),
    WHATSAPP: gettext_lazy(
        "We have sent you a WhatsApp message so we can help with your personal details."
    ),
}

# E.164: "+", a country code not starting with 0, at most 15 digits in all.
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def private_thread_key(conversation: Conversation) -> str | None:
    """The thread key of the customer's direct messages on the conversation's own channel, or
    None when the platform has no direct-message path here. The keys are the ones the
    platform's DM ingest files messages under, so a later DM lands in the same conversation."""
    if conversation.channel.kind == ChannelKind.X and conversation.contact.external_id:
        return f"dm:{conversation.contact.external_id}"
    return None


def whatsapp_channels() -> list[Channel]:
    """The organisation's WhatsApp numbers a conversation can move to.

    Read on every look at a public conversation and changed a few times a year: a copy per
    process for up to webcare.refcache.TTL_SECONDS (the service checks the chosen one again).
    """

    def build() -> list[Channel]:
        return [
            c
            for c in Channel.objects.filter(kind=ChannelKind.WHATSAPP, enabled=True).order_by(
                "name"
            )
            if (c.config or {}).get("phone_number_id")
        ]

    return refcache.cached("handover:whatsapp-channels", build)


def normalise_phone(value: str) -> str:
    """The number as E.164 ("+31612345678"); spaces, dashes, dots and brackets are dropped."""
    number = re.sub(r"[\s\-.()]", "", value or "")
    if number.startswith("00"):
        number = "+" + number[2:]
    if not E164.match(number):
        raise ActionRefused(
            _("Enter the customer's mobile number in international form, for example +31612345678.")
        )
    return number


def notice_text(conversation: Conversation, target: str) -> str:
    """The default public notice in the conversation's language."""
    language = conversation.language or settings.LANGUAGE_CODE
    with translation.override(language):
        return str(NOTICE[target])


@dataclass(frozen=True, slots=True)
class Handover:
    private: Conversation
    created: bool  # a new private conversation was opened (False: an existing one was linked)
    repeated: bool  # already handed over: nothing was written


@transaction.atomic
def continue_privately(
    *,
    conversation: Conversation,
    acting_user,
    target: str = SAME_PLATFORM,
    message: str = "",
    notice: str = "",
    submit: bool = True,
    whatsapp_channel: Channel | None = None,
    phone: str = "",
    template: tuple[str, list[str]] | None = None,
) -> Handover:
    """Hand a public conversation over to a private one (see the module's docstring).

    message: the agent's first private message (X); template: (key, values) of an approved
    WhatsApp template, required for WhatsApp (the customer has not written there, so the
    24-hour window is closed). submit=False leaves both replies as drafts.
    """
    public = (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("channel", "contact", "department", "continued_in")
        .get(pk=conversation.pk)
    )
    if not may_act_on(acting_user, public):
        raise PermissionDenied
    if not replies.may_reply_from_channel(conversation=public, user=acting_user):
        raise PermissionDenied(_("Your team may not reply from this account."))
    linked = public.continued_in
    if linked is not None and linked.status in OPEN_STATUSES:
        return Handover(private=linked, created=False, repeated=True)
    if not public.is_public:
        raise ActionRefused(_("This conversation is private already."))
    if public.status not in OPEN_STATUSES:
        raise ActionRefused(_("This conversation is closed."))

    if target == WHATSAPP:
        channel, contact, key = _whatsapp_side(public, whatsapp_channel, phone)
        if template is None or not template[0]:
            raise ActionRefused(
                _(
                    "The first WhatsApp message to a customer must be an approved template: "
                    "the customer has not written to this number in the last 24 hours."
                )
            )
    elif target == SAME_PLATFORM:
        dm_key = private_thread_key(public)
        if dm_key is None:
            raise ActionRefused(_("This platform has no private messages to continue in."))
        channel, contact, key = public.channel, public.contact, dm_key
        if not message.strip():
            raise ActionRefused(_("Write the private message to send."))
    else:
        raise ActionRefused(_("Choose where to continue."))

    private, created = _find_or_open(public, channel=channel, contact=contact, key=key)
    Conversation.objects.filter(pk=public.pk).update(
        continued_in=private, version=F("version") + 1, updated_at=timezone.now()
    )

    save = replies.save_and_submit_reply if submit else replies.save_draft
    first = save(
        conversation=private,
        text=message,
        acting_user=acting_user,
        private=True,
        template=template if target == WHATSAPP else None,
    )
    public_notice = save(
        conversation=public,
        text=notice.strip() or notice_text(public, target),
        acting_user=acting_user,
    )
    ConversationEvent.objects.create(
        conversation=public,
        actor=acting_user,
        kind="continued_privately",
        data={
            "private": private.pk,
            "target": target,
            "created": created,
            "reply": first.pk,
            "notice": public_notice.pk,
        },
    )
    return Handover(private=private, created=created, repeated=False)


def _whatsapp_side(
    public: Conversation, channel: Channel | None, phone: str
) -> tuple[Channel, Contact, str]:
    from inbox.channels.whatsapp.webhook import thread_key

    if channel is None or channel.kind != ChannelKind.WHATSAPP or not channel.enabled:
        raise ActionRefused(_("Choose the WhatsApp number to continue on."))
    number_id = str((channel.config or {}).get("phone_number_id") or "")
    if not number_id:
        raise ActionRefused(_("This WhatsApp channel has no phone number id in its settings."))
    number = normalise_phone(phone)
    wa_id = number[1:]  # WhatsApp's id of a customer is their number without the "+"
    contact, _created = Contact.objects.get_or_create(
        channel=channel,
        external_id=wa_id,
        defaults={"handle": number, "name": public.contact.name or public.contact.handle},
    )
    return channel, contact, thread_key(number_id, wa_id)


def _find_or_open(
    public: Conversation, *, channel: Channel, contact: Contact, key: str
) -> tuple[Conversation, bool]:
    """The open conversation on (channel, key), else a new one for the public one's team."""
    found = _open_on(channel, key)
    if found is not None:
        if found.department_id is None and public.department_id is not None:
            # So the team that handed over sees the customer's answer.
            Conversation.objects.filter(pk=found.pk).update(
                department_id=public.department_id,
                assignee_id=public.assignee_id,
                status=_working_status(public),
                version=F("version") + 1,
            )
            found.refresh_from_db()
        return found, False
    now = timezone.now()
    previous = (
        Conversation.objects.filter(channel=channel, thread_key=key)
        .order_by("-id")
        .values_list("pk", flat=True)
        .first()
    )
    try:
        # A savepoint: a DM ingested at this very moment may have opened it (the constraint
        # allows one open conversation per thread); then we link that one.
        with transaction.atomic():
            private = Conversation.objects.create(
                channel=channel,
                contact=contact,
                thread_key=key,
                is_public=False,
                status=_working_status(public),
                department_id=public.department_id,
                assignee_id=public.assignee_id,
                priority=public.priority,
                language=public.language,
                snippet=public.snippet,
                received_at=now,
                last_message_at=now,
                previous_id=previous,
            )
    except IntegrityError:
        found = _open_on(channel, key)
        if found is None:
            raise
        return found, False
    return private, True


def _open_on(channel: Channel, key: str) -> Conversation | None:
    return (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("channel", "contact", "department")
        .filter(channel=channel, thread_key=key, status__in=OPEN_STATUSES)
        .first()
    )


def _working_status(public: Conversation) -> str:
    if public.assignee_id:
        return Status.ASSIGNED
    if public.department_id:
        return Status.TRIAGED
    return Status.NEW
