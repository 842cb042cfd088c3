"""Triage: what a coordinator does with a conversation in the shared inbox.

Every action follows the same steps: permission check (coordinators and admins), an optimistic
version check folded into one conditional UPDATE (the action carries the version the user saw;
a mismatch raises ConflictError and changes nothing), exactly one ConversationEvent, side effects
after commit, version bumped. Bulk actions do the same for a whole selection with set-based
statements: one UPDATE and one bulk INSERT of events, never one round trip per row.

Every action that changes the status, team, priority or flags calls the matching SLA hook of
routing.sla.hooks inside its transaction, after the change (docs/sla.md): an end status stops the
clocks, leaving one restarts them, a team or priority change recomputes the due times. The bulk
path calls the bulk hooks, so a selection of any size costs the same number of queries.

Size: every coordinator action, single and bulk, shares _apply and the SLA and event steps
around it; split apart, each module would import the same private helpers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.models import (
    OPEN_STATUSES,
    Conversation,
    ConversationEvent,
    ConversationLabel,
    Flag,
    HouseRule,
    Message,
    NoReplyReason,
    Priority,
    Status,
)
from inbox.services import labels
from inbox.services.refusals import ConflictError
from inbox.services.refusals import who_changed as _who_changed
from integrations.models import EventType
from integrations.services.events import emit_for_conversations
from routing.sla.clocks import SLA_FIELDS, with_sla_fields
from routing.sla.hooks import (
    on_conversation_opened,
    on_priorities_or_departments_changed,
    on_priority_or_department_changed,
    on_status_changed,
    on_statuses_changed,
)
from webcare.jobs import enqueue

# Flags a coordinator sets by hand (the enrichment sets the others).
MANUAL_FLAGS = (Flag.THREAT, Flag.FAKE_ACCOUNT, Flag.PRESS, Flag.VIP)


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # changed by someone else in the meantime


def _check_permission(user) -> None:
    if not (user.is_authenticated and user.is_coordinator):
        raise PermissionDenied(_("Only coordinators and administrators can triage."))


def _apply(
    *,
    conversation: Conversation,
    acting_user,
    version: int,
    kind: str,
    updates: dict[str, Any],
    data: dict[str, Any],
    extra_filter: dict[str, Any] | None = None,
) -> Conversation:
    """The common core: conditional UPDATE on (id, version), one event, bump version.

    Must run inside transaction.atomic (the callers open it) so the event and the change
    commit together.
    """
    _check_permission(acting_user)
    now = timezone.now()
    # The version test and the write are one statement: two coordinators clicking at once
    # cannot both succeed, whichever request reaches PostgreSQL first wins.
    n = Conversation.objects.filter(
        pk=conversation.pk, version=version, **(extra_filter or {})
    ).update(**updates, version=F("version") + 1, updated_at=now)
    if n != 1:
        current = Conversation.objects.filter(pk=conversation.pk).values_list("version", flat=True)
        if current and current[0] != version:
            raise ConflictError(conversation.pk, _who_changed(conversation.pk))
        raise ValidationError(_("This action does not apply to this conversation any more."))
    ConversationEvent.objects.create(
        conversation_id=conversation.pk, actor=acting_user, kind=kind, data=data
    )
    for name, value in updates.items():
        if not hasattr(value, "resolve_expression"):
            setattr(conversation, name, value)
    conversation.version = version + 1
    conversation.updated_at = now
    return conversation


def _sla_after(
    conversation: Conversation,
    *,
    old_status: str | None = None,
    recompute: bool = False,
) -> None:
    """Run the SLA hooks after an action changed the status (old_status given) and/or the team,
    priority or flags (recompute), inside the action's transaction.

    The hooks read the conversation as it is now (re-read: the caller's object may lack the
    SLA fields); the new SLA fields are copied onto the caller's object for the response.
    """
    if old_status is None and not recompute:
        return
    fresh = with_sla_fields(Conversation.objects.filter(pk=conversation.pk)).get()
    now = timezone.now()
    if old_status is not None and old_status != fresh.status:
        on_status_changed(fresh, old_status, fresh.status, now)
    if recompute:
        on_priority_or_department_changed(fresh, at=now)
    for name in SLA_FIELDS:
        setattr(conversation, name, getattr(fresh, name))


def forward_conversation(
    *, conversation: Conversation, department, acting_user, version: int, note: str = ""
) -> Conversation:
    """Forward to a department team: it leaves the shared queue and shows in the team's queue.

    The SLA clocks keep running from their start, recomputed in the new team's calendar."""
    old_status, old_department = conversation.status, conversation.department_id
    with transaction.atomic():
        conv = _apply(
            conversation=conversation,
            acting_user=acting_user,
            version=version,
            kind="forwarded",
            updates={"department": department, "status": Status.TRIAGED, "assignee": None},
            data={"department_id": department.pk, "department": department.name, "note": note},
        )
        _sla_after(conv, old_status=old_status, recompute=old_department != department.pk)
        emit_for_conversations(
            EventType.CONVERSATION_FORWARDED,
            [conv.pk],
            occurred_at=conv.updated_at,
            extra={"forwarded_by_id": acting_user.pk},
        )
    return conv


def assign_conversation(
    *, conversation: Conversation, assignee, acting_user, version: int
) -> Conversation:
    old_status = conversation.status
    with transaction.atomic():
        conv = _apply(
            conversation=conversation,
            acting_user=acting_user,
            version=version,
            kind="assigned",
            updates={"assignee": assignee, "status": Status.ASSIGNED},
            data={"assignee_id": assignee.pk, "assignee": str(assignee)},
        )
        _sla_after(conv, old_status=old_status)
    return conv


def mark_no_reply_needed(
    *, conversation: Conversation, reason: NoReplyReason, acting_user, version: int, note: str = ""
) -> Conversation:
    old_status = conversation.status
    with transaction.atomic():
        conv = _apply(
            conversation=conversation,
            acting_user=acting_user,
            version=version,
            kind="no_reply_needed",
            updates={
                "status": Status.NO_REPLY_NEEDED,
                "status_reason": reason.label,
                "closed_at": timezone.now(),
            },
            data={"reason_id": reason.pk, "reason": reason.label, "note": note},
        )
        _sla_after(conv, old_status=old_status)  # every clock stops
    return conv


def _schedule_platform_hide(conversation_ids: list[int], hidden: bool) -> None:
    # A slow platform must never hold the coordinator's request: the connector call runs in a
    # Celery task enqueued after commit (the task reads the committed state).
    enqueue("inbox.hide_on_platform", conversation_ids, hidden)


def hide_conversation(
    *, conversation: Conversation, rule: HouseRule, acting_user, version: int
) -> Conversation:
    """Hide under a house rule (quoted in the audit trail); hidden on the platform too, after commit."""
    old_status = conversation.status
    with transaction.atomic():
        conv = _apply(
            conversation=conversation,
            acting_user=acting_user,
            version=version,
            kind="hidden",
            updates={
                "status": Status.HIDDEN,
                "status_reason": rule.title,
                "closed_at": timezone.now(),
            },
            data={"rule_id": rule.pk, "rule": rule.title, "rule_text": rule.text},
        )
        _sla_after(conv, old_status=old_status)  # every clock stops
        _schedule_platform_hide([conv.pk], True)
    return conv


def unhide_conversation(*, conversation: Conversation, acting_user, version: int) -> Conversation:
    back_to = Status.TRIAGED if conversation.department_id else Status.NEW
    with transaction.atomic():
        conv = _apply(
            conversation=conversation,
            acting_user=acting_user,
            version=version,
            kind="unhidden",
            updates={"status": back_to, "status_reason": "", "closed_at": None},
            data={"status": back_to},
            extra_filter={"status": Status.HIDDEN},
        )
        # The extra filter guarantees it was hidden: the clocks restart as on a reopen.
        _sla_after(conv, old_status=Status.HIDDEN)
        _schedule_platform_hide([conv.pk], False)
    return conv


def threat_recipients() -> list:
    """Who hears of a threat at once: the members of the security/communications department."""
    from webcare.accounts.models import User

    slug = getattr(settings, "WEBCARE_THREAT_DEPARTMENT", "communicatie")
    return list(User.objects.filter(memberships__department__slug=slug, is_active=True).distinct())


def _evidence(conversation: Conversation) -> dict[str, Any]:
    """A frozen copy of what was said, by whom, where and when: kept in the audit event so later
    edits, deletions on the platform or anonymisation do not erase what a police report needs."""
    messages = (
        Message.objects.filter(conversation_id=conversation.pk)
        .select_related("contact")
        .order_by("created_at", "id")
    )
    return {
        "captured_at": timezone.now().isoformat(),
        "messages": [
            {
                "external_id": m.external_id,
                "author_handle": m.contact.handle if m.contact else "",
                "author_name": m.contact.name if m.contact else "",
                "author_profile_url": m.contact.profile_url if m.contact else "",
                "text": m.text,
                "url": m.url,
                "created_at": m.created_at.isoformat(),
                "ingested_at": m.ingested_at.isoformat() if m.ingested_at else "",
                "direction": m.direction,
            }
            for m in messages
        ],
    }


def _notify_threat(conversation: Conversation, acting_user) -> None:
    from inbox.services.notifications import notify_users

    text = _("Threat flagged by %(user)s: %(snippet)s") % {
        "user": acting_user,
        "snippet": conversation.snippet[:200],
    }
    notify_users(
        users=threat_recipients(),
        kind="threat",
        text=text,
        url=conversation.get_absolute_url(),
        conversation=conversation,
        dedupe_key=f"threat:{conversation.pk}",
    )
    if _escalation_address():
        # By name and after commit, like every side effect: the mail server is not waited on
        # inside the coordinator's request, and a rolled-back flag mails nobody.
        enqueue("inbox.mail_threat_escalation", conversation.pk, acting_user.pk)


def _escalation_address() -> str:
    from routing.models import Department

    slug = getattr(settings, "WEBCARE_THREAT_DEPARTMENT", "communicatie")
    address = Department.objects.filter(slug=slug).values_list("escalation_email", flat=True)
    return address.first() or ""


def mail_threat_escalation(*, conversation_id: int, flagged_by_id: int | None) -> bool:
    """E-mail the security department's escalation address that a threat was flagged.

    Run by the task inbox.mail_threat_escalation once the flag has committed. In the site's
    language (settings.LANGUAGE_CODE): the address is a team's mailbox, not a person with a
    language of their own. Returns whether a mail went out.
    """
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.utils import translation

    from webcare.accounts.models import User

    address = _escalation_address()
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if not address or conversation is None:
        return False
    context = {
        "conversation": conversation,
        "flagged_by": User.objects.filter(pk=flagged_by_id).first() if flagged_by_id else None,
        "snippet": conversation.snippet[:200],
        "url": conversation.get_absolute_url(),
    }
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string("emails/threat-subject.txt", context)
        body = render_to_string("emails/threat-body.txt", context)
    # A subject is one line, whatever the snippet held.
    send_mail(" ".join(subject.split())[:150], body, settings.DEFAULT_FROM_EMAIL, [address])
    return True


def flag_conversation(
    *, conversation: Conversation, flag: Flag, acting_user, version: int, on: bool = True
) -> Conversation:
    """Set (or clear) a flag. A threat also keeps the evidence and tells the security contact."""
    flag = Flag(flag)
    if flag not in MANUAL_FLAGS:
        raise ValidationError(_("This flag is set automatically."))
    data: dict[str, Any] = {"flag": int(flag), "label": str(Flag.labels()[flag]), "on": on}
    if on and flag == Flag.THREAT:
        data["evidence"] = _evidence(conversation)
    updates: dict[str, Any] = {
        "flags": F("flags").bitor(int(flag)) if on else F("flags").bitand(~int(flag))
    }
    if on and flag == Flag.THREAT:
        updates["priority"] = Priority.URGENT
    with transaction.atomic():
        conv = _apply(
            conversation=conversation,
            acting_user=acting_user,
            version=version,
            kind="flagged" if on else "unflagged",
            updates=updates,
            data=data,
        )
        conv.flags = (conv.flags | int(flag)) if on else (conv.flags & ~int(flag))
        # Flags (and a threat's priority) take part in choosing the SLA policy.
        _sla_after(conv, recompute=True)
        if on and flag == Flag.THREAT:
            _notify_threat(conv, acting_user)
            emit_for_conversations(
                EventType.THREAT_FLAGGED,
                [conv.pk],
                occurred_at=conv.updated_at,
                extra={"flagged_by_id": acting_user.pk},
            )
    return conv


def set_priority(
    *, conversation: Conversation, priority: int, acting_user, version: int
) -> Conversation:
    priority = Priority(priority)
    old_priority = conversation.priority
    with transaction.atomic():
        conv = _apply(
            conversation=conversation,
            acting_user=acting_user,
            version=version,
            kind="priority",
            updates={"priority": priority},
            data={"priority": int(priority), "from": old_priority},
        )
        _sla_after(conv, recompute=old_priority != priority)
    return conv


def merge_conversations(
    *,
    target: Conversation,
    source: Conversation,
    acting_user,
    target_version: int,
    source_version: int,
) -> Conversation:
    """Move source's messages into target; source closes with merged_into pointing at target."""
    if target.pk == source.pk:
        raise ValidationError(_("A conversation cannot be merged into itself."))
    _check_permission(acting_user)
    with transaction.atomic():
        n = Conversation.objects.filter(pk=source.pk, version=source_version).update(
            status=Status.CLOSED,
            merged_into=target,
            closed_at=timezone.now(),
            version=F("version") + 1,
            updated_at=timezone.now(),
        )
        if n != 1:
            raise ConflictError(source.pk, _who_changed(source.pk))
        # The merged-away source is closed: its clocks stop (the target keeps its own).
        _sla_after(source, old_status=source.status)
        moved = Message.objects.filter(conversation_id=source.pk).update(conversation=target)
        stats = Message.objects.filter(conversation_id=target.pk).aggregate(last=Max("created_at"))
        conv = _apply(
            conversation=target,
            acting_user=acting_user,
            version=target_version,
            kind="merged",
            updates={
                "message_count": F("message_count") + moved,
                "last_message_at": stats["last"] or target.last_message_at,
                "received_at": min(target.received_at, source.received_at),
            },
            data={"source_id": source.pk, "moved_messages": moved},
        )
        conv.message_count += moved
        # The labels dashboard reads a period's labels by the arrival time copied onto them.
        ConversationLabel.objects.filter(conversation_id=target.pk).update(
            received_at=min(target.received_at, source.received_at)
        )
    return conv


def split_conversation(
    *, conversation: Conversation, message_ids: Iterable[int], acting_user, version: int
) -> Conversation:
    """Move the selected messages to a new conversation in the shared queue; returns the new one."""
    _check_permission(acting_user)
    ids = sorted(set(message_ids))
    with transaction.atomic():
        messages = list(
            Message.objects.filter(conversation_id=conversation.pk, id__in=ids).order_by(
                "created_at", "id"
            )
        )
        remaining = Message.objects.filter(conversation_id=conversation.pk).exclude(id__in=ids)
        if not messages or not remaining.exists():
            raise ValidationError(_("Choose some, but not all, messages to split off."))
        first = messages[0]
        new = Conversation.objects.create(
            channel_id=conversation.channel_id,
            contact_id=first.contact_id or conversation.contact_id,
            thread_key=f"{conversation.thread_key}:split:{first.pk}",
            status=Status.NEW,
            language=first.language or conversation.language,
            sentiment=first.sentiment,
            flags=first.flags,
            snippet=first.text[:280],
            message_count=len(messages),
            received_at=first.created_at,
            last_message_at=messages[-1].created_at,
            last_inbound_at=messages[-1].created_at,
            previous=conversation,
        )
        Message.objects.filter(id__in=[m.pk for m in messages]).update(conversation=new)
        # The new conversation gets its clocks as ingest's opening would give them.
        on_conversation_opened(with_sla_fields(Conversation.objects.filter(pk=new.pk)).get())
        conv = _apply(
            conversation=conversation,
            acting_user=acting_user,
            version=version,
            kind="split",
            updates={"message_count": F("message_count") - len(messages)},
            data={"new_conversation_id": new.pk, "message_ids": [m.pk for m in messages]},
        )
        conv.message_count -= len(messages)
    return new


# --- Bulk -----------------------------------------------------------------------------------

BULK_ACTIONS = ("forward", "assign", "no_reply", "hide", "flag", "priority", "label", "unlabel")


def bulk_triage(*, action: str, items: Mapping[int, int], acting_user, **params: Any) -> BulkResult:
    """Apply one action to a selection {conversation_id: version seen}.

    Set-based: lock the selection once, keep the rows whose version still matches, one UPDATE,
    one bulk INSERT of events. Rows someone else changed meanwhile are skipped and reported.
    """
    _check_permission(acting_user)
    if action not in BULK_ACTIONS:
        raise ValidationError(_("Unknown bulk action."))
    if action in ("label", "unlabel"):
        # Labels change no status, team or clock: their own set-based path (inbox.services.labels).
        done, skipped = labels.bulk_label(
            items=items, label=params["label"], on=action == "label", acting_user=acting_user
        )
        return BulkResult(done=done, skipped=skipped)
    now = timezone.now()
    updates: dict[str, Any]
    data: dict[str, Any]
    kind = action
    extra_filter: dict[str, Any] = {}
    if action == "forward":
        department = params["department"]
        kind = "forwarded"
        updates = {"department": department, "status": Status.TRIAGED, "assignee": None}
        data = {
            "department_id": department.pk,
            "department": department.name,
            "note": params.get("note", ""),
        }
    elif action == "assign":
        assignee = params["assignee"]
        kind = "assigned"
        updates = {"assignee": assignee, "status": Status.ASSIGNED}
        data = {"assignee_id": assignee.pk, "assignee": str(assignee)}
    elif action == "no_reply":
        reason = params["reason"]
        kind = "no_reply_needed"
        updates = {
            "status": Status.NO_REPLY_NEEDED,
            "status_reason": reason.label,
            "closed_at": now,
        }
        data = {"reason_id": reason.pk, "reason": reason.label}
    elif action == "hide":
        rule = params["rule"]
        kind = "hidden"
        updates = {"status": Status.HIDDEN, "status_reason": rule.title, "closed_at": now}
        data = {"rule_id": rule.pk, "rule": rule.title, "rule_text": rule.text}
    elif action == "flag":
        flag = Flag(int(params["flag"]))
        if flag not in MANUAL_FLAGS or flag == Flag.THREAT:
            # A threat needs its evidence captured and a person told, one by one.
            raise ValidationError(_("Flag threats one at a time."))
        kind = "flagged"
        updates = {"flags": F("flags").bitor(int(flag))}
        data = {"flag": int(flag), "label": str(Flag.labels()[flag]), "on": True}
    else:
        priority = Priority(int(params["priority"]))
        kind = "priority"
        updates = {"priority": priority}
        data = {"priority": int(priority)}
    if action in ("forward", "assign", "no_reply", "hide"):
        extra_filter = {"status__in": OPEN_STATUSES}

    result = BulkResult()
    with transaction.atomic():
        # One locking read of the whole selection; the versions decide who is still untouched.
        # It also loads what the SLA hooks read, so they need no second read of the rows.
        current = {
            c.pk: c
            for c in with_sla_fields(
                Conversation.objects.select_for_update(no_key=True, of=("self",)).filter(
                    pk__in=list(items), **extra_filter
                ),
                "version",
            )
        }
        ok = [pk for pk, seen in items.items() if pk in current and current[pk].version == seen]
        result.skipped = sorted(set(items) - set(ok))
        if ok:
            Conversation.objects.filter(pk__in=ok).update(
                **updates, version=F("version") + 1, updated_at=now
            )
            ConversationEvent.objects.bulk_create(
                [
                    ConversationEvent(conversation_id=pk, actor=acting_user, kind=kind, data=data)
                    for pk in ok
                ],
                batch_size=500,
            )
            _bulk_sla_after(action, [current[pk] for pk in sorted(ok)], params, now)
            if action == "hide":
                _schedule_platform_hide(sorted(ok), True)
            elif action == "forward":
                emit_for_conversations(
                    EventType.CONVERSATION_FORWARDED,
                    sorted(ok),
                    occurred_at=now,
                    extra={"forwarded_by_id": acting_user.pk},
                )
        result.done = sorted(ok)
    return result


def _bulk_sla_after(
    action: str, conversations: list[Conversation], params: Mapping[str, Any], now
) -> None:
    """The bulk SLA hooks for a bulk action (a fixed number of queries whatever the selection).

    conversations: as read before the UPDATE; the change is applied to them in memory first.
    """
    old_status = {c.pk: c.status for c in conversations}
    recompute: list[Conversation] = []
    if action == "forward":
        department = params["department"]
        recompute = [c for c in conversations if c.department_id != department.pk]
        for conv in conversations:
            conv.department = department
            conv.status = Status.TRIAGED
            conv.assignee_id = None
    elif action == "assign":
        for conv in conversations:
            conv.status = Status.ASSIGNED
            conv.assignee_id = params["assignee"].pk
    elif action in ("no_reply", "hide"):
        status = Status.NO_REPLY_NEEDED if action == "no_reply" else Status.HIDDEN
        for conv in conversations:
            conv.status = status
    elif action == "flag":
        flag = int(params["flag"])
        recompute = [c for c in conversations if not c.flags & flag]
        for conv in recompute:
            conv.flags |= flag
    else:
        priority = Priority(int(params["priority"]))
        recompute = [c for c in conversations if c.priority != priority]
        for conv in recompute:
            conv.priority = priority
    if action in ("forward", "assign", "no_reply", "hide"):
        new = conversations[0].status if conversations else ""
        changed = [c for c in conversations if old_status[c.pk] != new]
        on_statuses_changed(conversations=changed, old=old_status, new=new, at=now)
    on_priorities_or_departments_changed(conversations=recompute, at=now)


def add_contact_note(*, contact, author, text: str):
    """An internal note on a contact (shown in the contact card of every conversation)."""
    from inbox.models import ContactNote

    if not author.is_authenticated:
        raise PermissionDenied
    return ContactNote.objects.create(contact=contact, author=author, text=text.strip()[:5000])
