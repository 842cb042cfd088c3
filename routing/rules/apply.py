"""Routing rules at work: apply the ordered rules to freshly ingested conversations (suggest or
forward a team, set a priority, apply labels) and recompute their SLA clocks. The matching itself is pure
(routing.rules.matching).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inbox.models import Conversation, ConversationEvent, Status
from inbox.services.labels import label_by_rules
from routing.models import RoutingRule
from routing.rules.matching import RoutingInput, first_matching_rule, rule_matches
from routing.sla.clocks import with_sla_fields
from routing.sla.hooks import on_priorities_or_departments_changed

log = logging.getLogger(__name__)


def routing_input_for(conversation) -> RoutingInput:
    return RoutingInput(
        text=conversation.snippet,
        channel_id=conversation.channel_id,
        language=conversation.language,
        sentiment=conversation.sentiment,
        flags=conversation.flags,
        contact_tags=tuple(conversation.contact.tags or ()),
        needs_reply=conversation.needs_reply,
    )


def apply_routing(
    *,
    conversation_ids: Iterable[int],
    on_error: Callable[[int, Exception], None] | None = None,
) -> dict[int, int]:
    """Match each new, not yet forwarded conversation against the active rules.

    Called by ingest after a batch (system actor). A matching rule stores its department as the
    suggestion, forwards automatically when the rule says so, and sets the priority. One event
    per conversation that changed, written in bulk. Returns {conversation_id: rule_id}.

    A rule that fails for a conversation (bad data written around the rule form), or an SLA
    recompute that fails after its forward, is logged and handed to on_error(conversation id,
    error); that conversation stays as it was (unrouted, or routed with its clocks as they
    were) and the others are routed. Without on_error the error propagates.
    """
    rules = list(RoutingRule.objects.filter(active=True).order_by("order", "id"))
    if not rules:
        return {}
    # A rule that only labels does not stop the team and priority rules below it: those come
    # from the first matching rule that sets them. Labels add up: every matching rule's label.
    routing_rules = [r for r in rules if not _labels_only(r)]
    label_rules = [r for r in rules if r.label_id]
    matched: dict[int, int] = {}
    failed = 0
    with transaction.atomic():
        conversations = list(
            Conversation.objects.select_for_update(no_key=True, of=("self",))
            .select_related("contact")
            .filter(pk__in=list(conversation_ids), status=Status.NEW, department__isnull=True)
        )
        events = []
        reclock: list[int] = []
        now = timezone.now()
        by_rule: dict[int, list[int]] = defaultdict(list)
        labelled: dict[int, list[RoutingRule]] = {}
        for conv in conversations:
            try:
                facts = routing_input_for(conv)
                rule = first_matching_rule(routing_rules, facts)
                labelled[conv.pk] = [r for r in label_rules if rule_matches(r, facts)]
            except Exception as exc:
                if on_error is None:
                    raise
                # The traceback once per call: one broken rule fails for the whole batch.
                log.error(
                    "routing rules failed for conversation %s",
                    conv.pk,
                    exc_info=exc if not failed else None,
                )
                failed += 1
                on_error(conv.pk, exc)
                continue
            if rule is not None:
                by_rule[rule.pk].append(conv.pk)
        for rule in rules:
            ids = by_rule.get(rule.pk)
            updates: dict = {}
            if rule.department_id:
                updates["suggested_department_id"] = rule.department_id
                if rule.auto_forward:
                    updates["department_id"] = rule.department_id
                    updates["status"] = Status.TRIAGED
            if rule.set_priority is not None:
                updates["priority"] = rule.set_priority
            if not ids or not updates:
                continue
            # One UPDATE per rule that matched: its actions are the same for every row.
            Conversation.objects.filter(pk__in=ids).update(
                **updates, version=F("version") + 1, updated_at=now
            )
            data = {
                "rule_id": rule.pk,
                "rule": rule.name,
                **{k: v for k, v in updates.items() if k != "status"},
            }
            kind = "auto_forwarded" if "department_id" in updates else "routed"
            events += [
                ConversationEvent(conversation_id=pk, actor=None, kind=kind, data=data)
                for pk in ids
            ]
            matched.update(dict.fromkeys(ids, rule.pk))
            if "priority" in updates or "department_id" in updates:
                reclock += ids
        ConversationEvent.objects.bulk_create(events)
        label_by_rules(
            matches=labelled, received={c.pk: c.received_at for c in conversations}, at=now
        )
        # A new priority or team can mean another SLA policy or calendar for the running clocks:
        # recomputed together (one policy and calendar load for the batch, not one per row).
        reclocked = list(with_sla_fields(Conversation.objects.filter(pk__in=reclock)))
        if on_error is None:
            on_priorities_or_departments_changed(conversations=reclocked, at=now)
        elif reclocked:
            _reclock_isolated(reclocked, at=now, on_error=on_error)
    return matched


def _labels_only(rule: RoutingRule) -> bool:
    return bool(rule.label_id) and not rule.department_id and rule.set_priority is None


def _reclock_isolated(
    conversations: list[Conversation], *, at: datetime, on_error: Callable[[int, Exception], None]
) -> None:
    """on_priorities_or_departments_changed in a savepoint; if it fails, again one conversation
    at a time (each in its own savepoint), so only those that fail keep the clocks they had."""
    try:
        with transaction.atomic():
            on_priorities_or_departments_changed(conversations=conversations, at=at)
        return
    except Exception as exc:
        log.error(
            "SLA recompute after routing failed for %s conversations; one by one now",
            len(conversations),
            exc_info=exc,
        )
    # Loaded again: the failed attempt may have changed the objects in memory.
    for conversation in with_sla_fields(
        Conversation.objects.filter(pk__in=[c.pk for c in conversations])
    ):
        try:
            with transaction.atomic():
                on_priorities_or_departments_changed(conversations=[conversation], at=at)
        except Exception as exc:
            log.error(
                "SLA recompute after routing failed for conversation %s: %s", conversation.pk, exc
            )
            on_error(conversation.pk, exc)
