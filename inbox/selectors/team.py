"""Reads for department teams: the team queue, replies, canned answers, notes.

Every getter here enforces team membership: staff see only conversations of the
teams they belong to; coordinators and managers see every team. A getter that
finds the row but may not show it raises PermissionDenied (403), never 404.

Size: every read of the staff's pages shares the same membership checks (team_ids_of,
may_see_team, may_act_on); split apart, each module would import them back from the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import F, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timesince import timesince
from django.utils.timezone import localtime

from inbox.models import (
    OPEN_STATUSES,
    CannedAnswer,
    Contact,
    Conversation,
    DeliveryStatus,
    FaqSet,
    Message,
    Note,
    Notification,
    Reply,
    ReplyState,
    ReplyVersion,
    Status,
)
from inbox.selectors.labels import label_filter, labels_of
from routing.models import Department, Membership
from webcare import refcache
from webcare.accounts.models import User

PAGE_SIZE = 50


def all_teams() -> list[Department]:
    """Every department, by name (a per-process copy: webcare.refcache)."""
    return refcache.cached("teams", lambda: list(Department.objects.order_by("name", "id")))


def teams_of(user) -> list[Department]:
    """The teams whose queue user may open: their own, or all for coordinators and managers."""
    if user.is_coordinator or user.is_manager:
        return all_teams()
    # Membership is read per request (team_ids_of), never from the copy: it is a permission.
    mine = team_ids_of(user)
    return [team for team in all_teams() if team.pk in mine]


# The header's bell counts unread notifications up to this (no COUNT over everything).
UNREAD_CAP = 100


@dataclass(frozen=True, slots=True)
class UserFacts:
    team_ids: frozenset[int]
    leads_a_team: bool


def user_facts(user) -> UserFacts:
    """Who user is on this request: their teams (a permission, so read per request and never
    from webcare.refcache) and whether they lead one, in one query. Kept on the user object,
    that is for one request: a reply asks "may this user act here?" four or five times on its
    way through view and services."""
    facts = getattr(user, "_facts", None)
    if facts is None:
        lookup = Membership.objects.filter(user_id=user.pk).values_list("department_id", "is_lead")
        rows = list(lookup)
        facts = user._facts = UserFacts(
            frozenset(team for team, _lead in rows), any(lead for _team, lead in rows)
        )
    return facts


def unread_notifications(user) -> int:
    """The user's unread notifications, counted up to UNREAD_CAP (the header's bell).

    Uses index: notification_user_idx (user, read_at, -created_at): a LIMIT, not a COUNT."""
    unread = Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
    return len(unread.values_list("pk", flat=True)[:UNREAD_CAP])


def team_ids_of(user) -> frozenset[int]:
    """Ids of user's teams (user_facts: read once per request)."""
    return user_facts(user).team_ids


def may_see_team(user, department_id: int | None) -> bool:
    if user.is_coordinator or user.is_manager:
        return True
    if department_id is None:
        return False
    return department_id in team_ids_of(user)


def team_conversations(user, *, department: Department | None = None) -> QuerySet[Conversation]:
    """Conversations in user's teams (or in department, when user may see it)."""
    # No "department IS NOT NULL" beside a team filter: it is implied, and PostgreSQL multiplied
    # the two as independent odds, estimated 3 open rows for a team of 1,300 and chose to read
    # and sort all of them instead of the first page from conv_team_queue_idx.
    if department is not None:
        if not may_see_team(user, department.pk):
            raise PermissionDenied
        return Conversation.objects.filter(department=department)
    if user.is_coordinator or user.is_manager:
        return Conversation.objects.filter(department__isnull=False)
    # The ids this request has read already (user_facts), as values: with one team PostgreSQL
    # reads the page in order from the index; behind a membership subquery it could not.
    return Conversation.objects.filter(department_id__in=sorted(team_ids_of(user)))


@dataclass(frozen=True, slots=True)
class TeamRow:
    """What a team queue row shows (inbox/team_rows.html) and the page key needs.

    Plain values, not model instances: a page of rows with their contact, team and assignee
    would be four instances a row, on a page every staff member loads at each step.
    """

    pk: int
    status: str
    snippet: str
    received_at: datetime
    sla_due_at: datetime | None
    sla_state: str
    author: str
    department_id: int
    department: str
    assignee: str  # "" when nobody has claimed it


_TEAM_ROW_COLUMNS = (
    "id",
    "status",
    "snippet",
    "received_at",
    "sla_due_at",
    "sla_state",
    "contact__name",
    "contact__handle",
    "contact__external_id",
    "department_id",
    "department__name",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__username",
)


def _team_row(values: tuple) -> TeamRow:
    pk, status, snippet, received, due, state, name, handle, external_id = values[:9]
    department_id, department, first, last, username = values[9:]
    return TeamRow(
        pk=pk,
        status=status,
        snippet=snippet,
        received_at=received,
        sla_due_at=due,
        sla_state=state,
        author=Contact.label(name, handle, external_id),
        department_id=department_id,
        department=department,
        assignee=_name(first, last, username),
    )


def team_row_values(rows: list[TeamRow]) -> list[dict[str, Any]]:
    """What each team queue row shows (inbox/team_rows.html), as text.

    The template reads one dict per row instead of calling filters on each value (numbers
    through number formatting, dates through the date filter): half the render time of a page
    every staff member loads at each step.
    """
    statuses = {value: str(label) for value, label in Status.choices}
    labels = labels_of([c.pk for c in rows])  # one query for the page
    values = []
    for c in rows:
        due = c.sla_due_at
        values.append(
            {
                "pk": str(c.pk),
                "status": c.status,
                "status_label": statuses.get(c.status, c.status),
                "url": reverse("inbox:team_conversation", args=[c.pk]),
                "snippet": c.snippet if len(c.snippet) <= 120 else c.snippet[:119] + "…",
                "author": c.author,
                "department": c.department,
                "assignee": c.assignee,
                "received": c.received_at.isoformat(),
                "received_ago": timesince(c.received_at),
                "sla_state": c.sla_state,
                "due": due.isoformat() if due else "",
                "due_label": date_format(localtime(due), "SHORT_DATETIME_FORMAT") if due else "",
                "labels": [(a.name, a.colour, a.rule) for a in labels.get(c.pk, ())],
            }
        )
    return values


# (sla_due_at or None, received_at, id) of the last row shown.
QueueKey = tuple[datetime | None, datetime, int]


def team_queue_page(
    user,
    *,
    department: Department | None = None,
    mine: bool = False,
    query: str = "",
    after: QueueKey | None = None,
    size: int = PAGE_SIZE,
    label: int | None = None,
) -> tuple[list[TeamRow], QueueKey | None]:
    """Open team conversations, most urgent first: SLA due time (none last), then oldest first.

    Keyset pagination over (sla_due_at NULLS LAST, received_at, id): no OFFSET, no COUNT.
    `label`: only conversations with this label id (an EXISTS beside the queue's own index).
    """
    qs = team_conversations(user, department=department).filter(status__in=OPEN_STATUSES)
    if mine:
        qs = qs.filter(assignee=user)
    if label:
        qs = label_filter(qs, label)
    if query:
        qs = qs.filter(Q(snippet__icontains=query) | Q(contact__handle__icontains=query))
    if after is not None:
        due, received_at, pk = after
        later_same_due = Q(received_at__gt=received_at) | Q(received_at=received_at, id__gt=pk)
        if due is None:
            qs = qs.filter(Q(sla_due_at__isnull=True) & later_same_due)
        else:
            qs = qs.filter(
                Q(sla_due_at__gt=due)
                | Q(sla_due_at__isnull=True)
                | (Q(sla_due_at=due) & later_same_due)
            )
    order = (F("sla_due_at").asc(nulls_last=True), "received_at", "id")
    # The page's ids first, then the joins for those rows only: joined before the LIMIT,
    # PostgreSQL looked up contact, team and assignee for every open item of the team.
    page_ids = qs.order_by(*order).values("id")[: size + 1]
    # The queue rows show the contact, team and assignee; the channel (with its cursor and
    # config JSON) is not shown, so it is not joined: this page is loaded on every step of a
    # staff member's day.
    rows = [
        _team_row(values)
        for values in Conversation.objects.filter(pk__in=Subquery(page_ids))
        .order_by(*order)
        .values_list(*_TEAM_ROW_COLUMNS)
    ]
    next_key = None
    if len(rows) > size:
        last = rows[size - 1]
        next_key = (last.sla_due_at, last.received_at, last.pk)
    return rows[:size], next_key


def get_team_conversation(user, conversation_id: int) -> Conversation:
    """The conversation, if user may see it; PermissionDenied for another team's item."""
    conv = Conversation.objects.select_related("channel", "contact", "department", "assignee").get(
        pk=conversation_id
    )
    if not may_see_team(user, conv.department_id):
        raise PermissionDenied
    return conv


def get_conversation_to_act_on(user, conversation_id: int) -> Conversation:
    """The conversation, if user may work on it (reply, note, claim); PermissionDenied for one
    they may only read or not see at all, Conversation.DoesNotExist when there is none."""
    conv = get_team_conversation(user, conversation_id)
    if not may_act_on(user, conv):
        raise PermissionDenied
    return conv


def may_act_on(user, conversation: Conversation) -> bool:
    """Reply, note, claim: coordinators everywhere, staff in their own team. Managers only read."""
    if user.is_coordinator:
        return True
    if conversation.department_id is None:
        return False
    return conversation.department_id in team_ids_of(user)


def team_members(department: Department) -> QuerySet:
    return User.objects.filter(memberships__department=department, is_active=True).order_by(
        "first_name", "username"
    )


def team_member_list(department_id: int) -> list:
    """team_members for display (the reassign list), from the per-process copy."""
    return refcache.cached(
        ("members", department_id),
        lambda: list(team_members(Department(pk=department_id))),
    )


# The workspace shows this many of the latest replies; the rest behind a link. A long-running
# conversation must not make every look at it (and every save, which re-renders it) slower.
RECENT_REPLIES = 10


@dataclass(frozen=True, slots=True)
class VersionItem:
    """One saved version of a reply, as the workspace lists it."""

    number: int
    text: str
    editor: str  # display name; "" when the account is gone
    reason: str
    comment: str


@dataclass(frozen=True, slots=True)
class ReplyItem:
    """What the workspace shows of a reply (inbox/reply_item.html and, for
    the user's own draft, composer.html).

    Plain values, not model instances: replies with their authors, reviewers and versions are
    several instances each, built on every look at a conversation and after every save.
    """

    pk: int
    author_id: int
    state: str
    text: str
    private: bool
    notice_for_id: int | None
    after_send: str
    review_comment: str
    parts: list
    external_id: str
    external_url: str
    last_error: str
    template: dict  # a WhatsApp template reply: {"name", "language", "parameters"}
    delivery_status: str  # what the platform's status callbacks said after sending
    delivery_error: str
    created_at: datetime
    author: str
    reviewer: str  # "" when nobody reviewed it
    versions: tuple[VersionItem, ...]

    def get_state_display(self) -> str:
        return str(ReplyState(self.state).label)

    def get_delivery_status_display(self) -> str:
        return str(DeliveryStatus(self.delivery_status).label) if self.delivery_status else ""


REPLY_FIELDS = (
    "pk",
    "author_id",
    "state",
    "text",
    "private",
    "notice_for_id",
    "after_send",
    "review_comment",
    "parts",
    "external_id",
    "external_url",
    "last_error",
    "template",
    "delivery_status",
    "delivery_error",
    "created_at",
    "author__first_name",
    "author__last_name",
    "author__username",
    "reviewer__first_name",
    "reviewer__last_name",
    "reviewer__username",
)
VERSION_FIELDS = (
    "reply_id",
    "number",
    "text",
    "reason",
    "comment",
    "editor__first_name",
    "editor__last_name",
    "editor__username",
)


def _name(first: str | None, last: str | None, username: str | None) -> str:
    return User.label(first or "", last or "", username or "") if username is not None else ""


def _reply_item(row: tuple, versions: tuple[VersionItem, ...]) -> ReplyItem:
    plain = dict(zip(REPLY_FIELDS[:16], row[:16], strict=True))
    return ReplyItem(
        **plain,
        author=_name(*row[16:19]),
        reviewer=_name(*row[19:22]),
        versions=versions,
    )


def replies_for(
    conversation: Conversation, *, latest: int | None = None
) -> tuple[list[ReplyItem], bool]:
    """Replies oldest first, and whether earlier ones were left out (only with latest=N).

    Two queries of plain values (the replies, then all their versions): ten replies with
    authors, reviewers and two versions each were ~60 model instances, 2.8 ms of CPU on every
    look at a conversation and after every save."""
    rows, more = _oldest_first(
        Reply.objects.filter(conversation_id=conversation.pk), REPLY_FIELDS, latest
    )
    versions: dict[int, list[VersionItem]] = {}
    if rows:
        found = ReplyVersion.objects.filter(reply_id__in=[row[0] for row in rows])
        for reply_id, number, text, reason, comment, *editor in found.order_by(
            "reply_id", "number"
        ).values_list(*VERSION_FIELDS):
            versions.setdefault(reply_id, []).append(
                VersionItem(
                    number=number, text=text, editor=_name(*editor), reason=reason, comment=comment
                )
            )
    return [_reply_item(row, tuple(versions.get(row[0], ()))) for row in rows], more


def _oldest_first(qs: QuerySet, fields: tuple[str, ...], latest: int | None):
    """The rows of qs as value tuples of fields, oldest first, and whether earlier ones were
    left out: with latest=N only the newest N, read newest first with a LIMIT."""
    if latest is None:
        return list(qs.order_by("created_at", "pk").values_list(*fields)), False
    rows = list(qs.order_by("-created_at", "-pk").values_list(*fields)[: latest + 1])
    return rows[:latest][::-1], len(rows) > latest


def draft_of(conversation: Conversation, user) -> Reply | None:
    """The user's own draft on this conversation (the oldest, should there be two)."""
    return (
        conversation.replies.filter(state=ReplyState.DRAFT, author=user)
        .order_by("created_at", "id")
        .first()
    )


def get_reply_for_user(user, reply_id: int) -> Reply:
    reply = Reply.objects.select_related(
        "conversation__channel",
        "conversation__contact",
        "conversation__department",
        "author",
    ).get(pk=reply_id)
    if not may_act_on(user, reply.conversation):
        raise PermissionDenied
    return reply


def review_queue(user) -> QuerySet[Reply]:
    """Replies waiting for review in user's teams, not written by user."""
    qs = Reply.objects.filter(state=ReplyState.PENDING_REVIEW).exclude(author=user)
    if not user.is_coordinator:
        qs = qs.filter(
            conversation__department__in=Department.objects.filter(memberships__user=user).values(
                "pk"
            )
        )
    return qs.select_related("conversation__contact", "author").order_by("submitted_at", "id")


@dataclass(frozen=True, slots=True)
class NoteItem:
    """An internal note as the workspace lists it (inbox/note_list.html)."""

    pk: int
    author: str  # "" when the account is gone
    created_at: datetime
    text: str


def notes_for(conversation: Conversation) -> list[NoteItem]:
    """The notes, oldest first, as plain values: the workspace reads them on every look and
    after every save, and most conversations have none."""
    rows = (
        Note.objects.filter(conversation_id=conversation.pk)
        .order_by("created_at", "pk")
        .values_list(
            "pk",
            "author__first_name",
            "author__last_name",
            "author__username",
            "created_at",
            "text",
        )
    )
    return [
        NoteItem(pk=pk, author=_name(first, last, username), created_at=at, text=text)
        for pk, first, last, username, at, text in rows
    ]


@dataclass(frozen=True, slots=True)
class MessageItem:
    """A message of the thread as the conversation page shows it (inbox/team_conversation.html)."""

    pk: int
    direction: str
    external_id: str
    sent_by: str  # the colleague who sent an outbound message; "" for the account itself
    contact: str
    created_at: datetime
    is_public: bool
    url: str
    text: str


# The conversation page shows this many of the latest messages; the rest behind a link. A
# thread that runs for months (a DM conversation, a storm of mentions) must not make every look
# at it slower.
RECENT_MESSAGES = 50


MESSAGE_FIELDS = (
    "pk",
    "direction",
    "external_id",
    "sent_by__first_name",
    "sent_by__last_name",
    "sent_by__username",
    "contact__name",
    "contact__handle",
    "contact__external_id",
    "created_at",
    "is_public",
    "url",
    "text",
)


def thread_of(
    conversation: Conversation, *, latest: int | None = None, linked: tuple[int, ...] = ()
) -> tuple[list[MessageItem], bool]:
    """The conversation's messages oldest first, and whether earlier ones were left out (only
    with latest=N). Values, not instances, and never the platform's raw payload (kilobytes per
    message on real channels, never shown). linked: conversations whose messages join the
    same timeline (a public mention and the private conversation it continued in)."""
    rows, more = _oldest_first(
        Message.objects.filter(conversation_id__in=[conversation.pk, *linked]),
        MESSAGE_FIELDS,
        latest,
    )
    return [_message_item(row) for row in rows], more


def _message_item(row: tuple) -> MessageItem:
    return MessageItem(
        pk=row[0],
        direction=row[1],
        external_id=row[2],
        sent_by=_name(*row[3:6]),
        contact=Contact.label(row[6] or "", row[7] or "", row[8] or ""),
        created_at=row[9],
        is_public=row[10],
        url=row[11],
        text=row[12],
    )


@dataclass(frozen=True, slots=True)
class CannedMatch:
    answer: CannedAnswer
    text: str  # with this conversation's variables filled in


def reply_variables(*, conversation: Conversation, user) -> dict[str, str]:
    """The values a canned answer may use. Plain strings only (see replytext.render_variables)."""
    contact = conversation.contact
    return {
        "contact_name": contact.name or contact.handle or "",
        "contact_handle": f"@{contact.handle}" if contact.handle else "",
        "agent_name": user.first_name or user.get_full_name() or user.username,
        "agent_initials": user.signature(),
        "team": str(conversation.department or ""),
        "conversation_id": str(conversation.pk),
        "channel": conversation.channel.name,
    }


def canned_answers_for(
    user, conversation: Conversation, *, query: str = "", limit: int = 10
) -> list[CannedMatch]:
    """Active canned answers of the conversation's team (and global ones), in its language first."""
    from inbox.lib.replytext import render_variables

    qs = CannedAnswer.objects.filter(is_active=True).filter(
        Q(department__isnull=True) | Q(department_id=conversation.department_id)
    )
    qs = qs.filter(Q(faq_set__isnull=True) | Q(faq_set__is_active=True))
    if query:
        qs = qs.filter(
            Q(title__icontains=query)
            | Q(shortcut__icontains=query)
            | Q(body__icontains=query)
            | Q(faq_set__topic__icontains=query)
        )
    language = conversation.language or "nl"
    rows = sorted(
        qs.select_related("faq_set")[: limit * 3],
        key=lambda a: (a.language != language, a.faq_set_id is None, a.title.lower()),
    )[:limit]
    variables = reply_variables(conversation=conversation, user=user)
    return [CannedMatch(answer=a, text=render_variables(a.body, variables)) for a in rows]


def faq_sets_for(conversation: Conversation) -> list[FaqSet]:
    """Active FAQ sets of the conversation's team and of all teams (per-process copy)."""
    department_id = conversation.department_id
    return refcache.cached(
        ("faq_sets", department_id),
        lambda: list(
            FaqSet.objects.filter(is_active=True)
            .filter(Q(department__isnull=True) | Q(department_id=department_id))
            .prefetch_related("answers")
        ),
    )
