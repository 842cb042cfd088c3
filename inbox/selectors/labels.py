"""Reads of labels: the list (for selects and the settings page) and the labels of conversations,
with who or which routing rule applied each (the UI says why a label is there)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from inbox.models import Conversation, ConversationLabel, Label
from webcare import refcache


@dataclass(frozen=True, slots=True)
class LabelOption:
    pk: int
    name: str
    colour: str
    is_active: bool


@dataclass(frozen=True, slots=True)
class AppliedLabel:
    """A label on a conversation, as its chip shows it."""

    pk: int
    name: str
    colour: str
    rule: str  # the routing rule that applied it ("" when a person did, or the rule is gone)
    applied_by: str
    applied_at: datetime | None = None


def label_options() -> list[LabelOption]:
    """Every label, active ones first, by name: read once per process and TTL (webcare.refcache;
    a save of a label clears the copy, inbox.apps)."""

    def build() -> list[LabelOption]:
        return [
            LabelOption(pk, name, colour, active)
            for pk, name, colour, active in Label.objects.order_by(
                "-is_active", "name", "id"
            ).values_list("id", "name", "colour", "is_active")
        ]

    return refcache.cached(("labels",), build)


def active_label_choices() -> list[tuple[int, str]]:
    return [(o.pk, o.name) for o in label_options() if o.is_active]


def labels_of(conversation_ids: list[int]) -> dict[int, list[AppliedLabel]]:
    """The labels of these conversations by conversation id, by name: ONE query for a page of
    rows (the unique index conversation_label_unique starts with the conversation)."""
    if not conversation_ids:
        return {}
    found: dict[int, list[AppliedLabel]] = {}
    rows = (
        ConversationLabel.objects.filter(conversation_id__in=conversation_ids)
        .order_by("label__name", "label_id")
        .values_list(
            "conversation_id",
            "label_id",
            "label__name",
            "label__colour",
            "rule__name",
            "applied_by__first_name",
            "applied_by__last_name",
            "applied_by__username",
            "applied_at",
        )
    )
    for conv, pk, name, colour, rule, first, last, username, at in rows:
        person = " ".join(p for p in (first, last) if p) or (username or "")
        found.setdefault(conv, []).append(
            AppliedLabel(pk, name, colour, rule or "", person, applied_at=at)
        )
    return found


def label_filter(qs: QuerySet[Conversation], label) -> QuerySet[Conversation]:
    """Only conversations with this label (a Label or its id).

    Uses index: an EXISTS, so the page keeps its order index; PostgreSQL either walks the page's
    index and probes conversation_label_unique per row (a common label), or reads the label's
    conversations from convlabel_label_idx (a rare one). A join could not repeat rows either
    (one link per pair), but EXISTS leaves the planner both ways without a DISTINCT.
    """
    label_id = getattr(label, "pk", label)
    return qs.filter(
        Exists(ConversationLabel.objects.filter(conversation_id=OuterRef("pk"), label_id=label_id))
    )
