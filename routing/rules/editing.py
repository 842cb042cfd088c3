"""The coordinators' rule editor: create, reorder and delete routing rules, and try one out on
recent messages before saving it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max

from inbox.models import Direction, Message
from routing.models import RoutingRule
from routing.rules.matching import RoutingInput, rule_matches


def _check_rule_editor(user) -> None:
    if not user.is_coordinator:
        raise PermissionDenied


def save_routing_rule(*, rule, acting_user):
    """Create or update a rule; a new rule goes to the end of the order."""
    _check_rule_editor(acting_user)
    if rule.pk is None:
        top = RoutingRule.objects.aggregate(m=Max("order"))["m"]
        rule.order = 0 if top is None else top + 1
    rule.save()
    return rule


def move_routing_rule(*, rule, direction: int, acting_user) -> None:
    """Swap a rule with its neighbour (direction -1 up, +1 down) and renumber densely."""
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
            # Scores are kept per conversation (its latest customer message), not per message.
            needs_reply=m.conversation.needs_reply,
        )
        if rule_matches(rule, probe):
            hits.append(m)
    return len(messages), len(hits), hits[:50]
