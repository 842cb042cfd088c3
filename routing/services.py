"""Routing: apply the ordered rules to freshly ingested conversations."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from routing.rules import RoutingInput, first_matching_rule


def routing_input_for(conversation) -> RoutingInput:
    return RoutingInput(
        text=conversation.snippet,
        channel_id=conversation.channel_id,
        language=conversation.language,
        sentiment=conversation.sentiment,
        flags=conversation.flags,
        contact_tags=tuple(conversation.contact.tags or ()),
    )


def apply_routing(*, conversation_ids: Iterable[int]) -> dict[int, int]:
    """Match each new, not yet forwarded conversation against the active rules.

    Called by ingest after a batch (system actor). A matching rule stores its department as the
    suggestion, forwards automatically when the rule says so, and sets the priority. One event
    per conversation that changed, written in bulk. Returns {conversation_id: rule_id}.
    """
    from inbox.models import Conversation, ConversationEvent, Status
    from routing.models import RoutingRule

    rules = list(RoutingRule.objects.filter(active=True).order_by("order", "id"))
    if not rules:
        return {}
    matched: dict[int, int] = {}
    with transaction.atomic():
        conversations = list(
            Conversation.objects.select_for_update(no_key=True, of=("self",))
            .select_related("contact")
            .filter(pk__in=list(conversation_ids), status=Status.NEW, department__isnull=True)
        )
        events = []
        now = timezone.now()
        for conv in conversations:
            rule = first_matching_rule(rules, routing_input_for(conv))
            if rule is None:
                continue
            updates: dict = {}
            if rule.department_id:
                updates["suggested_department_id"] = rule.department_id
                if rule.auto_forward:
                    updates["department_id"] = rule.department_id
                    updates["status"] = Status.TRIAGED
            if rule.set_priority is not None:
                updates["priority"] = rule.set_priority
            if not updates:
                continue
            Conversation.objects.filter(pk=conv.pk).update(
                **updates, version=F("version") + 1, updated_at=now
            )
            events.append(
                ConversationEvent(
                    conversation_id=conv.pk,
                    actor=None,
                    kind="auto_forwarded" if "department_id" in updates else "routed",
                    data={
                        "rule_id": rule.pk,
                        "rule": rule.name,
                        **{k: v for k, v in updates.items() if k != "status"},
                    },
                )
            )
            matched[conv.pk] = rule.pk
        ConversationEvent.objects.bulk_create(events)
    return matched


def _check_rule_editor(user) -> None:
    from django.core.exceptions import PermissionDenied

    if not user.is_coordinator:
        raise PermissionDenied


def save_routing_rule(*, rule, acting_user):
    """Create or update a rule; a new rule goes to the end of the order."""
    from django.db.models import Max

    from routing.models import RoutingRule

    _check_rule_editor(acting_user)
    if rule.pk is None:
        top = RoutingRule.objects.aggregate(m=Max("order"))["m"]
        rule.order = 0 if top is None else top + 1
    rule.save()
    return rule


def move_routing_rule(*, rule, direction: int, acting_user) -> None:
    """Swap a rule with its neighbour (direction -1 up, +1 down) and renumber densely."""
    from routing.models import RoutingRule

    _check_rule_editor(acting_user)
    with transaction.atomic():
        rules = list(RoutingRule.objects.select_for_update().order_by("order", "id"))
        index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
        other = index + direction
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
        for order, r in enumerate(rules):
            if r.order != order:
                RoutingRule.objects.filter(pk=r.pk).update(order=order)


def delete_routing_rule(*, rule, acting_user) -> None:
    _check_rule_editor(acting_user)
    rule.delete()


def try_rule(rule, *, limit: int = 1000) -> tuple[int, int, list]:
    """What the rule would have matched among the last `limit` inbound messages (nothing saved).

    Returns (examined, matched, first 50 matching messages).
    """
    from inbox.models import Direction, Message
    from routing.rules import RoutingInput, rule_matches

    messages = list(
        Message.objects.filter(direction=Direction.INBOUND)
        .select_related("contact", "conversation")
        .order_by("-id")[:limit]
    )
    hits = []
    for m in messages:
        probe = RoutingInput(
            text=m.text,
            channel_id=m.channel_id,
            language=m.language or m.conversation.language,
            sentiment=m.sentiment,
            flags=m.flags | m.conversation.flags,
            contact_tags=tuple((m.contact.tags if m.contact else None) or ()),
        )
        if rule_matches(rule, probe):
            hits.append(m)
    return len(messages), len(hits), hits[:50]
