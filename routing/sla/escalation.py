"""Who hears about a conversation the sweep marked at risk or overdue, and how.

At risk: the assignee and the team. Overdue: also the coordinators. Urgent items while the
team's calendar is closed: also whoever is on call at that moment. In-app notifications (and
their e-mail) go through inbox.services.notifications, once per user, clock and state.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.models import Conversation, Flag, Priority, SlaState
from inbox.services.notifications import notify_users
from routing.models import Department, Membership, OnCallShift, SlaClock, SlaTarget
from routing.sla.arithmetic import is_open_at
from routing.sla.policies import CALENDAR_PARTS, calendar_spec
from webcare.accounts.models import Role, User

log = logging.getLogger(__name__)

# Flags that make an item urgent enough to wake the on-call person.
URGENT_FLAGS = Flag.THREAT | Flag.PRESS


def is_urgent(conversation: Conversation) -> bool:
    return bool(conversation.flags & URGENT_FLAGS) or conversation.priority >= Priority.URGENT


def oncall_users(department: Department, at: datetime, shifts: Iterable[OnCallShift] | None = None):
    """Who is on call for a team at this moment (wall times in the team calendar's zone)."""
    calendar = department.calendar
    tz = ZoneInfo(calendar.timezone if calendar is not None else settings.TIME_ZONE)
    local = at.astimezone(tz)
    today, now_t = local.date(), local.time()
    users = []
    for shift in department.oncall_shifts.all() if shifts is None else shifts:
        if shift.start < shift.end:
            day = today if shift.start <= now_t < shift.end else None
        elif now_t >= shift.start:
            day = today
        elif now_t < shift.end:
            day = today - timedelta(days=1)  # started yesterday evening
        else:
            day = None
        if day is None:
            continue
        if shift.weekdays and day.weekday() not in [int(d) for d in shift.weekdays]:
            continue
        if shift.start_date and day < shift.start_date:
            continue
        if shift.end_date and day > shift.end_date:
            continue
        users.append(shift.user)
    return users


def _recipients(
    conversation: Conversation,
    state: str,
    *,
    members: dict[int, list[Membership]],
    coordinators: list,
    now: datetime,
) -> list:
    users = []
    if conversation.assignee_id:
        users.append(conversation.assignee)
    dept = conversation.department
    if dept is None:
        # The shared inbox's team is the coordinators.
        users.extend(coordinators)
        return users
    users.extend(m.user for m in members.get(dept.pk, []))
    if state != SlaState.AT_RISK:
        users.extend(coordinators)
    if is_urgent(conversation):
        spec = calendar_spec(dept.calendar) if dept.calendar_id else None
        if spec is not None and not is_open_at(spec, now):
            users.extend(oncall_users(dept, now))
    return users


def notify_sla_state(
    *, conversation_ids: Sequence[int], state: str, now: datetime | None = None
) -> int:
    """Notify about conversations the sweep marked at risk or overdue; returns notifications made.

    At risk: the assignee and the team. Overdue: also the coordinators (and so
    the team lead, who is in the team). Urgent items while the team's calendar
    is closed: also the on-call person of the moment. One notification per
    user per clock and state (dedupe_key), so a re-run sends nothing twice.
    An optional webhook (settings.SLA_WEBHOOK_URL) gets a Slack/Teams-style
    {"text": ...} after commit.
    """
    now = now or timezone.now()
    convs = list(
        Conversation.objects.filter(pk__in=conversation_ids, sla_state=state)
        .select_related("assignee", "department", "department__calendar")
        .prefetch_related(
            *(f"department__calendar__{part}" for part in CALENDAR_PARTS),
            "department__oncall_shifts__user",
        )
    )
    if not convs:
        return 0
    field = "due_at" if state == SlaState.OVERDUE else "warn_at"
    clocks: dict[int, list[SlaClock]] = defaultdict(list)
    for clock in SlaClock.objects.filter(
        conversation_id__in=[c.pk for c in convs],
        stopped_at__isnull=True,
        **{f"{field}__lte": now},
    ):
        clocks[clock.conversation_id].append(clock)
    members: dict[int, list[Membership]] = defaultdict(list)
    for m in Membership.objects.filter(
        department_id__in={c.department_id for c in convs if c.department_id}
    ).select_related("user"):
        members[m.department_id].append(m)
    coordinators = list(User.objects.filter(role=Role.COORDINATOR, is_active=True))
    labels = dict(SlaTarget.choices)
    made = 0
    lines = []
    with transaction.atomic():
        for conv in convs:
            recipients = _recipients(
                conv, state, members=members, coordinators=coordinators, now=now
            )
            for clock in clocks.get(conv.pk, []):
                params = {"target": labels[clock.kind], "id": conv.pk, "snippet": conv.snippet[:60]}
                if state == SlaState.OVERDUE:
                    text = _("Overdue: %(target)s for #%(id)s (%(snippet)s)") % params
                else:
                    text = _("At risk: %(target)s for #%(id)s (%(snippet)s)") % params
                created = notify_users(
                    users=recipients,
                    kind=f"sla_{state}",
                    text=text,
                    url=conv.get_absolute_url(),
                    conversation=conv,
                    dedupe_key=f"sla-{state}:{conv.pk}:{clock.kind}:{clock.pk}",
                )
                if created:
                    made += len(created)
                    lines.append(text)
        url = settings.SLA_WEBHOOK_URL
        if url and lines:
            body = {"text": "\n".join(lines)}
            transaction.on_commit(lambda: post_webhook(url, body))
    return made


def post_webhook(url: str, body: dict) -> bool:
    """POST a Slack/Teams-compatible JSON message; failures are logged, never raised."""
    try:
        response = requests.post(url, json=body, timeout=5)
        response.raise_for_status()
    except requests.RequestException:
        log.warning("SLA webhook to %s failed", url, exc_info=True)
        return False
    return True
