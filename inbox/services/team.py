"""Team queue actions: claim, unclaim, reassign within the team, hand back to the coordinator."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from inbox.models import OPEN_STATUSES, Conversation, ConversationEvent, Status
from inbox.selectors.team import may_act_on
from inbox.services.refusals import ActionRefused, ConflictError
from inbox.services.triage import _who_changed


def _locked(conversation: Conversation) -> Conversation:
    # Lock the row so two people claiming at once are serialised; the loser sees the winner.
    return (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("department", "assignee")
        .get(pk=conversation.pk)
    )


def _save(conv: Conversation, fields: list[str]) -> None:
    conv.version = F("version") + 1
    conv.save(update_fields=[*fields, "version", "updated_at"])
    conv.refresh_from_db(fields=["version"])


def _check(conv: Conversation, user, expected_version: int | None) -> None:
    if not may_act_on(user, conv):
        raise PermissionDenied
    if conv.status not in OPEN_STATUSES:
        raise ActionRefused(_("This conversation is closed."))
    if expected_version is not None and conv.version != expected_version:
        # A colleague's change in the meantime, as triage says it (the API answers 409).
        raise ConflictError(conv.pk, _who_changed(conv.pk))


@transaction.atomic
def claim_conversation(
    *, conversation: Conversation, acting_user, expected_version: int | None = None
) -> Conversation:
    """Take a team conversation: assignee = acting_user. Refused when a colleague holds it."""
    conv = _locked(conversation)
    _check(conv, acting_user, expected_version)
    if conv.department_id is None:
        raise ActionRefused(_("Only conversations forwarded to a team can be claimed."))
    if conv.assignee_id == acting_user.pk:
        return conv
    if conv.assignee_id is not None:
        raise ActionRefused(_("%(name)s already works on this.") % {"name": conv.assignee})
    conv.assignee = acting_user
    if conv.status in (Status.NEW, Status.TRIAGED):
        conv.status = Status.ASSIGNED
    _save(conv, ["assignee", "status"])
    ConversationEvent.objects.create(conversation=conv, actor=acting_user, kind="claimed")
    return conv


@transaction.atomic
def unclaim_conversation(
    *, conversation: Conversation, acting_user, expected_version: int | None = None
) -> Conversation:
    """Give a claimed conversation back to the team queue."""
    conv = _locked(conversation)
    _check(conv, acting_user, expected_version)
    if conv.assignee_id is None:
        return conv
    if conv.assignee_id != acting_user.pk and not _is_lead_or_coordinator(acting_user, conv):
        raise PermissionDenied
    previous = conv.assignee_id
    conv.assignee = None
    _save(conv, ["assignee"])
    ConversationEvent.objects.create(
        conversation=conv, actor=acting_user, kind="unclaimed", data={"previous": previous}
    )
    return conv


@transaction.atomic
def reassign_conversation(
    *, conversation: Conversation, assignee, acting_user, expected_version: int | None = None
) -> Conversation:
    """Give the conversation to a colleague in the same team (who is notified)."""
    from inbox.services.notifications import notify_users

    conv = _locked(conversation)
    _check(conv, acting_user, expected_version)
    if conv.department_id is None or not assignee.memberships.filter(
        department_id=conv.department_id
    ):
        raise ActionRefused(_("%(name)s is not a member of this team.") % {"name": assignee})
    previous = conv.assignee_id
    conv.assignee = assignee
    if conv.status in (Status.NEW, Status.TRIAGED):
        conv.status = Status.ASSIGNED
    _save(conv, ["assignee", "status"])
    ConversationEvent.objects.create(
        conversation=conv,
        actor=acting_user,
        kind="reassigned",
        data={"previous": previous, "assignee": assignee.pk},
    )
    if assignee.pk != acting_user.pk:
        notify_users(
            users=[assignee],
            kind="assigned",
            text=_("%(user)s gave you conversation #%(id)s") % {"user": acting_user, "id": conv.pk},
            url=conv.get_absolute_url(),
            conversation=conv,
        )
    return conv


@transaction.atomic
def hand_back_conversation(
    *, conversation: Conversation, reason: str, acting_user, expected_version: int | None = None
) -> Conversation:
    """Return a conversation to the coordinator's shared inbox ("not for us"), with a reason."""
    reason = reason.strip()
    if not reason:
        raise ActionRefused(_("Say why you hand it back."))
    conv = _locked(conversation)
    _check(conv, acting_user, expected_version)
    if conv.department_id is None:
        raise ActionRefused(_("This conversation is not with a team."))
    department = conv.department_id
    conv.department = None
    conv.assignee = None
    conv.status = Status.TRIAGED
    conv.status_reason = reason
    _save(conv, ["department", "assignee", "status", "status_reason"])
    ConversationEvent.objects.create(
        conversation=conv,
        actor=acting_user,
        kind="handed_back",
        data={"department": department, "reason": reason},
    )
    return conv


def _is_lead_or_coordinator(user, conv: Conversation) -> bool:
    if user.is_coordinator:
        return True
    return user.memberships.filter(department_id=conv.department_id, is_lead=True).exists()
