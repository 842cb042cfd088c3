"""Labels: administrators keep the list; coordinators and a conversation's team apply them, one
by one or in bulk; routing rules apply them to new conversations (recording the rule).

Every change of a conversation's labels is audited (one ConversationEvent "labelled" or
"unlabelled" per change, naming the labels) and bumps the conversation's version like any other
action, so a colleague's stale form is refused (ConflictError) and the inbox row, whose reused
markup is keyed by its values, shows the new labels at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.models import (
    Conversation,
    ConversationEvent,
    ConversationLabel,
    Label,
    LabelColour,
)
from inbox.selectors.team import may_act_on
from inbox.services.refusals import ActionRefused, ConflictError, who_changed

EDITABLE_FIELDS = ("name", "colour", "description", "is_active")


def _check_admin(user) -> None:
    if not (user.is_authenticated and user.is_admin_role):
        raise PermissionDenied(_("Only administrators manage labels."))


def _clean(label: Label) -> None:
    label.name = " ".join(label.name.split())
    if not label.name:
        raise ActionRefused(_("A label needs a name."))
    if label.colour not in LabelColour.values:
        raise ActionRefused(_("Choose one of the label colours."))
    taken = Label.objects.annotate(lower=Lower("name")).filter(lower=label.name.lower())
    if label.pk:
        taken = taken.exclude(pk=label.pk)
    if taken.exists():
        raise ActionRefused(_("There is already a label “%(name)s”.") % {"name": label.name})
    label.full_clean()


def _save(label: Label) -> Label:
    _clean(label)
    try:
        # A savepoint: a concurrent twin that slipped past the check must not break the caller's
        # transaction, only this save.
        with transaction.atomic():
            label.save()
    except IntegrityError:
        raise ActionRefused(
            _("There is already a label “%(name)s”.") % {"name": label.name}
        ) from None
    return label


def create_label(*, name: str, colour: str, description: str = "", acting_user) -> Label:
    _check_admin(acting_user)
    return _save(Label(name=name, colour=colour, description=description.strip()))


def update_label(*, label: Label, acting_user, **fields: Any) -> Label:
    """Change a label's name, colour, description or is_active (archived: it stays on the
    conversations that have it, but can no longer be applied)."""
    _check_admin(acting_user)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown label field: %(names)s") % {"names": ", ".join(unknown)})
    for name, value in fields.items():
        setattr(label, name, value.strip() if name == "description" else value)
    return _save(label)


def _names(labels: Iterable[Label]) -> list[str]:
    return [label.name for label in labels]


def _event_data(labels: list[Label], **extra: Any) -> dict[str, Any]:
    return {"labels": _names(labels), "label_ids": [label.pk for label in labels], **extra}


def _refuse_archived(labels: Iterable[Label]) -> None:
    archived = [label.name for label in labels if not label.is_active]
    if archived:
        raise ActionRefused(
            _("Archived labels cannot be applied: %(names)s") % {"names": ", ".join(archived)}
        )


def set_labels(
    *,
    conversation: Conversation,
    add: Iterable[Label],
    remove: Iterable[Label],
    acting_user,
    version: int | None = None,
) -> Conversation:
    """Add and remove labels on one conversation.

    Who: coordinators, and staff of the conversation's team (whoever may act on it in the UI).
    `version`: the version the user saw; a colleague's change since raises ConflictError and
    changes nothing. Labels already on (or already off) are left alone; a call that changes
    nothing writes nothing. One event per change: "labelled" and/or "unlabelled".
    """
    add = list({label.pk: label for label in add}.values())
    remove = list({label.pk: label for label in remove}.values())
    if {label.pk for label in add} & {label.pk for label in remove}:
        raise ActionRefused(_("A label cannot be added and removed at once."))
    with transaction.atomic():
        locked = (
            Conversation.objects.select_for_update(no_key=True, of=("self",))
            .only("id", "version", "department_id", "received_at")
            .get(pk=conversation.pk)
        )
        if not (acting_user.is_authenticated and may_act_on(acting_user, locked)):
            raise PermissionDenied(_("You may not change this conversation's labels."))
        if version is not None and locked.version != version:
            raise ConflictError(locked.pk, who_changed(locked.pk))
        have = set(
            ConversationLabel.objects.filter(conversation_id=locked.pk).values_list(
                "label_id", flat=True
            )
        )
        added = [label for label in add if label.pk not in have]
        removed = [label for label in remove if label.pk in have]
        _refuse_archived(added)
        now = timezone.now()
        events = []
        if added:
            ConversationLabel.objects.bulk_create(
                [
                    ConversationLabel(
                        conversation_id=locked.pk,
                        label=label,
                        applied_by=acting_user,
                        applied_at=now,
                        received_at=locked.received_at,
                    )
                    for label in added
                ]
            )
            events.append(("labelled", added))
        if removed:
            ConversationLabel.objects.filter(
                conversation_id=locked.pk, label_id__in=[label.pk for label in removed]
            ).delete()
            events.append(("unlabelled", removed))
        if events:
            ConversationEvent.objects.bulk_create(
                ConversationEvent(
                    conversation_id=locked.pk, actor=acting_user, kind=kind, data=_event_data(ls)
                )
                for kind, ls in events
            )
            Conversation.objects.filter(pk=locked.pk).update(
                version=F("version") + 1, updated_at=now
            )
            conversation.version = locked.version + 1
            conversation.updated_at = now
    return conversation


def bulk_label(
    *, items: Mapping[int, int], label: Label, on: bool, acting_user
) -> tuple[list[int], list[int]]:
    """Add (on) or remove one label on a selection {conversation_id: version seen}: the bulk
    bar's "label" and "unlabel" (called by inbox.services.triage.bulk_triage, which checked the
    coordinator role). Returns (done, skipped): rows changed by someone else are skipped.

    Set-based like the other bulk actions: one locking read, one INSERT or DELETE, one UPDATE of
    the versions, one bulk INSERT of events, whatever the size of the selection.
    """
    if on:
        _refuse_archived([label])
    now = timezone.now()
    with transaction.atomic():
        current = dict(
            Conversation.objects.select_for_update(no_key=True, of=("self",))
            .filter(pk__in=list(items))
            .values_list("id", "version")
        )
        ok = sorted(pk for pk, seen in items.items() if current.get(pk) == seen)
        skipped = sorted(set(items) - set(ok))
        have = set(
            ConversationLabel.objects.filter(conversation_id__in=ok, label=label).values_list(
                "conversation_id", flat=True
            )
        )
        # Rows that already are as asked count as done, without an event: nothing changed.
        changed = [pk for pk in ok if (pk not in have) == on]
        if changed and on:
            received = dict(
                Conversation.objects.filter(pk__in=changed).values_list("id", "received_at")
            )
            ConversationLabel.objects.bulk_create(
                [
                    ConversationLabel(
                        conversation_id=pk,
                        label=label,
                        applied_by=acting_user,
                        applied_at=now,
                        received_at=received[pk],
                    )
                    for pk in changed
                ],
                batch_size=500,
            )
        elif changed:
            ConversationLabel.objects.filter(conversation_id__in=changed, label=label).delete()
        if changed:
            Conversation.objects.filter(pk__in=changed).update(
                version=F("version") + 1, updated_at=now
            )
            kind = "labelled" if on else "unlabelled"
            ConversationEvent.objects.bulk_create(
                [
                    ConversationEvent(
                        conversation_id=pk, actor=acting_user, kind=kind, data=_event_data([label])
                    )
                    for pk in changed
                ],
                batch_size=500,
            )
    return ok, skipped


def label_by_rules(
    *, matches: Mapping[int, list[Any]], received: Mapping[int, datetime], at: datetime
) -> int:
    """Apply the labels of matching routing rules: {conversation_id: [rule, ...]} in rule order.

    Called by routing.rules.apply inside its transaction (the system acts: no actor). Each link
    records its rule; a label two rules give is applied once, by the first. Archived labels and
    labels already on are left out. One "labelled" event per conversation and rule, naming the
    rule, so the conversation page can say why. Returns how many labels were applied.
    """
    wanted = {pk: [r for r in rules if r.label_id] for pk, rules in matches.items()}
    ids = [pk for pk, rules in wanted.items() if rules]
    if not ids:
        return 0
    label_ids = {r.label_id for rules in wanted.values() for r in rules}
    labels = Label.objects.in_bulk([i for i in label_ids if i is not None])
    have = set(
        ConversationLabel.objects.filter(conversation_id__in=ids).values_list(
            "conversation_id", "label_id"
        )
    )
    links: list[ConversationLabel] = []
    events: list[ConversationEvent] = []
    for pk in ids:
        for rule in wanted[pk]:
            label = labels.get(rule.label_id)
            if label is None or not label.is_active or (pk, label.pk) in have:
                continue
            have.add((pk, label.pk))
            links.append(
                ConversationLabel(
                    conversation_id=pk,
                    label=label,
                    rule=rule,
                    applied_at=at,
                    received_at=received[pk],
                )
            )
            events.append(
                ConversationEvent(
                    conversation_id=pk,
                    actor=None,
                    kind="labelled",
                    data=_event_data([label], rule_id=rule.pk, rule=rule.name),
                )
            )
    if links:
        ConversationLabel.objects.bulk_create(links, batch_size=500)
        ConversationEvent.objects.bulk_create(events, batch_size=500)
        Conversation.objects.filter(pk__in={link.conversation_id for link in links}).update(
            version=F("version") + 1, updated_at=at
        )
    return len(links)
