"""Reads, and getters that check who may see what."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inbox.models import (
    OPEN_STATUSES,
    Conversation,
    ConversationEvent,
    Flag,
    SlaState,
    Status,
    needs_reply_key,
)
from inbox.selectors.labels import label_filter, labels_of
from webcare.db import on_postgres
from webcare.fragments import choices_key

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PAGE_SIZE = 50
# A "needs a reply" score below this is "no reply likely" (the threshold bench/assist.py
# reports precision and recall at): the low-priority view and the muted hint in a row.
NO_REPLY_LIKELY_BELOW = 50
# The "N new" marker counts at most this many rows (one cheap LIMIT query, never a COUNT(*)).
NEW_MARKER_CAP = 50
# The columns an inbox row shows (inbox/inbox_rows.html and the SLA badge): the page loads only
# these. Half of Conversation's 33 columns are timestamps and the contact has a JSON column;
# building and parsing the unused ones cost more Python time than the SQL itself takes. A field
# that a row starts to show must be added here, or each row loads it with a query of its own
# (the query-count test of the inbox page then fails).
INBOX_ROW_FIELDS = (
    "id",
    "channel_id",
    "contact_id",
    "department_id",
    "assignee_id",
    "status",
    "priority",
    "language",
    "sentiment",
    "flags",
    "snippet",
    "received_at",
    "version",
    "sla_state",
    "sla_due_at",
    "sla_paused_at",
    "needs_reply",
    "needs_reply_reasons",
    "contact__id",
    "contact__external_id",
    "contact__handle",
    "contact__name",
)


def conversations_visible_to(user) -> QuerySet[Conversation]:
    """Coordinators and managers see everything; staff only their teams' conversations."""
    qs = Conversation.objects.all()
    if user.is_coordinator or user.is_manager:
        return qs
    return qs.filter(department__memberships__user=user)


def get_conversation_for_user(user, conversation_id: int) -> Conversation:
    try:
        return (
            conversations_visible_to(user)
            .select_related("channel", "contact", "department", "assignee", "suggested_department")
            .get(pk=conversation_id)
        )
    except Conversation.DoesNotExist:
        if Conversation.objects.filter(pk=conversation_id).exists():
            raise PermissionDenied from None
        raise


def keyset_page(
    qs: QuerySet[Conversation],
    *,
    before: tuple[datetime, int] | None,
    size: int = PAGE_SIZE,
    related: tuple[str, ...] = ("channel", "contact", "department", "assignee"),
    fields: tuple[str, ...] = (),
) -> tuple[list[Conversation], tuple[datetime, int] | None]:
    """One page ordered by (received_at DESC, id DESC); no OFFSET, no COUNT.

    `related`: the joins to make. The coordinator's inbox joins only the contact and names the
    small tables (channels, departments, users) from reference_lists(): fewer joins plan faster.
    `fields`: load only these columns (e.g. INBOX_ROW_FIELDS); all of them when empty.
    """
    if before is not None:
        received_at, pk = before
        # The redundant received_at <= bound lets PostgreSQL start the index scan at the key
        # (an OR alone is not an index range); the OR then settles ties on id.
        qs = qs.filter(
            Q(received_at__lt=received_at) | Q(received_at=received_at, id__lt=pk),
            received_at__lte=received_at,
        )
    qs = qs.select_related(*related)
    if fields:
        qs = qs.only(*fields)
    rows = list(qs.order_by("-received_at", "-id")[: size + 1])
    next_key = (rows[size - 1].received_at, rows[size - 1].pk) if len(rows) > size else None
    return rows[:size], next_key


def needs_reply_page(
    qs: QuerySet[Conversation],
    *,
    before: tuple[int, datetime, int] | None,
    size: int = PAGE_SIZE,
    related: tuple[str, ...] = ("contact",),
    fields: tuple[str, ...] = (),
) -> tuple[list[Conversation], tuple[int, datetime, int] | None]:
    """One page "most likely needs a reply first": (score, received_at, id) DESC, unscored
    last; keyset like keyset_page (the inbox and the API's list both page here). Uses index:
    conv_open_needs_reply_idx."""
    qs = qs.annotate(nr_key=needs_reply_key())
    if before is not None:
        score, received_at, pk = before
        qs = qs.filter(
            Q(nr_key__lt=score)
            | Q(nr_key=score, received_at__lt=received_at)
            | Q(nr_key=score, received_at=received_at, id__lt=pk),
            nr_key__lte=score,
        )
    qs = qs.select_related(*related)
    if fields:
        qs = qs.only(*fields)
    rows: list[Conversation] = list(qs.order_by("-nr_key", "-received_at", "-id")[: size + 1])
    next_key = None
    if len(rows) > size:
        last = rows[size - 1]
        # needs_reply_key() in Python: the score, -1 when unscored.
        score_of = last.needs_reply if last.needs_reply is not None else -1
        next_key = (score_of, last.received_at, last.pk)
    return rows[:size], next_key


def shared_inbox(user) -> QuerySet[Conversation]:
    return conversations_visible_to(user).filter(status__in=OPEN_STATUSES, department__isnull=True)


def team_queue(user) -> QuerySet[Conversation]:
    return Conversation.objects.filter(department__memberships__user=user, status__in=OPEN_STATUSES)


def search_filter(qs: QuerySet[Conversation], text: str) -> QuerySet[Conversation]:
    """Full-text search in Dutch OR English on PostgreSQL; a plain substring match on SQLite.

    Uses index: conv_fts_idx (inbox's initial migration), a GIN index over exactly the expression
    the summed SearchVectors render (Dutch tsvector || English tsvector). The text matches if
    its Dutch or its English query matches that combined vector: one index to maintain on
    ingest instead of two.
    """
    text = text.strip()
    if not text:
        return qs
    if not on_postgres():
        return qs.filter(Q(snippet__icontains=text) | Q(contact__handle__icontains=text))
    from django.contrib.postgres.search import SearchQuery, SearchVector

    return qs.alias(
        fts=SearchVector("snippet", config="dutch") + SearchVector("snippet", config="english")
    ).filter(
        fts=SearchQuery(text, config="dutch", search_type="websearch")
        | SearchQuery(text, config="english", search_type="websearch")
    )


def inbox_queryset(user, filters: dict[str, Any]) -> tuple[QuerySet[Conversation], bool]:
    """The coordinator's inbox with the cleaned InboxFilterForm values applied.

    Without a department filter it is the shared queue (open, not yet forwarded); with one it is
    that team's items, so a coordinator can check what was forwarded. Returns (queryset,
    is_shared_queue). Every branch keeps an index that serves ORDER BY (received_at, id) DESC.
    """
    if not user.is_coordinator:
        raise PermissionDenied
    qs = Conversation.objects.all()
    department = filters.get("department")
    shared = department is None
    if shared:
        qs = qs.filter(department__isnull=True)
    elif department != "any":
        qs = qs.filter(department=department)
    return filter_conversations(qs, filters), shared


def filter_conversations(
    qs: QuerySet[Conversation], filters: dict[str, Any]
) -> QuerySet[Conversation]:
    """The inbox's filters after the team: status ("open", "all" or one), channel, flag (its
    bit), language, sentiment, overdue, unassigned, "no reply likely", label and search. The
    inbox and the API's conversation list both filter here."""
    status = filters.get("status") or "open"
    if status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif status != "all":
        qs = qs.filter(status=status)
    if filters.get("channel"):
        qs = qs.filter(channel=filters["channel"])
    if filters.get("flag"):
        bit = int(filters["flag"])
        qs = qs.alias(flag_hit=F("flags").bitand(bit)).filter(flag_hit=bit)
    if filters.get("language"):
        qs = qs.filter(language=filters["language"])
    if filters.get("sentiment"):
        qs = qs.filter(sentiment=filters["sentiment"])
    if filters.get("overdue"):
        qs = qs.filter(sla_state=SlaState.OVERDUE)
    if filters.get("unassigned"):
        qs = qs.filter(assignee__isnull=True)
    if filters.get("no_reply_likely"):
        # On the sort key's expression, so that sorted by the hint the range is an index
        # condition of conv_open_needs_reply_idx (on the bare column it is a filter that reads
        # every likelier row first: 1.9 s at 1,000,000 rows). Unscored (-1) is not "unlikely".
        qs = qs.alias(nr_low=needs_reply_key()).filter(
            nr_low__gte=0, nr_low__lt=NO_REPLY_LIKELY_BELOW
        )
    if filters.get("label"):
        qs = label_filter(qs, filters["label"])
    if filters.get("q"):
        qs = search_filter(qs, filters["q"])
    return qs


def newer_than(qs: QuerySet[Conversation], *, after: tuple[datetime, int]) -> int:
    """How many rows sort above the top row the user sees, capped at NEW_MARKER_CAP + 1.

    Uses index: the same one as the page itself, read from its top: a LIMIT, never a COUNT(*).
    """
    received_at, pk = after
    newer = qs.filter(
        Q(received_at__gt=received_at) | Q(received_at=received_at, id__gt=pk),
        received_at__gte=received_at,
    )
    return len(
        newer.order_by("-received_at", "-id").values_list("id", flat=True)[: NEW_MARKER_CAP + 1]
    )


def newer_rows(
    qs: QuerySet[Conversation], *, after: tuple[datetime, int], size: int = PAGE_SIZE
) -> list[Conversation]:
    """The rows above the user's top row (newest first), to prepend to the list."""
    received_at, pk = after
    newer = qs.filter(
        Q(received_at__gt=received_at) | Q(received_at=received_at, id__gt=pk),
        received_at__gte=received_at,
    )
    return list(
        newer.select_related("channel", "contact", "department", "assignee").order_by(
            "-received_at", "-id"
        )[:size]
    )


def inbox_row_values(
    conversations: list[Conversation],
    *,
    names: dict[str, dict[int, str]] | None = None,
    viewers: dict[int, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """What each inbox row shows (inbox/inbox_rows.html), as plain values.

    The template reads one dict per row instead of resolving model attributes, filters and
    lookups into `names` itself: that halves the row's render time (fifty rows a page, 50 ms
    budget). `names`: the channel, department and user names from reference_lists(); without
    them (one row re-rendered after an action) the related objects are read instead.
    `c` stays in for the SLA badge, which the panel renders from the conversation too.
    """
    now = timezone.now()
    context = (now.strftime("%Y%m%d%H%M"), timezone.get_current_timezone_name())
    flag_labels = [(int(bit), str(label)) for bit, label in Flag.labels().items()]
    viewers = viewers or {}
    # One query for the page; the chips are row values, so the reused markup follows them.
    labels = labels_of([c.pk for c in conversations])
    values = []
    for c in conversations:
        if names is not None:
            channel = names["channel"].get(c.channel_id, "")
            department = names["department"].get(c.department_id) if c.department_id else None
            assignee = names["user"].get(c.assignee_id) if c.assignee_id else None
        else:
            channel = c.channel.name
            department = c.department.name if c.department is not None else None
            assignee = str(c.assignee) if c.assignee_id else None
        snippet = c.snippet
        values.append(
            {
                "c": c,
                # Numbers as text: {{ }} would send each through number formatting.
                "pk": str(c.pk),
                "version": str(c.version),
                "status": c.status,
                "priority": str(c.priority),
                "priority_label": c.get_priority_display() if c.priority >= 2 else "",
                "channel": channel,
                "author": str(c.contact),
                "received": c.received_at.isoformat(),
                "age": _compact_age(c.received_at, now),
                "url": c.get_absolute_url(),
                "snippet": snippet if len(snippet) <= 160 else snippet[:159] + "…",
                "language": c.language.upper(),
                "sentiment": c.sentiment,
                "sentiment_label": c.get_sentiment_display(),
                "flags": [(bit, label) for bit, label in flag_labels if c.flags & bit],
                "has_sla": c.sla_state != SlaState.NONE or c.sla_paused_at is not None,
                "department": department,
                "assignee": assignee,
                "viewers": ", ".join(viewers.get(c.pk, ())),
                **_needs_reply_hint(c.needs_reply, c.needs_reply_reasons),
                "labels": [(a.name, a.colour, a.rule) for a in labels.get(c.pk, ())],
            }
        )
        row = values[-1]
        # What the row's markup depends on beyond these values: the SLA badge's clock, and the
        # minute, language and time zone its texts ("5 min", "due in 20 minutes") are written in.
        row["key"] = choices_key(
            [(k, v) for k, v in row.items() if k != "c"],
            [("sla", (c.sla_state, c.sla_due_at, c.sla_paused_at)), ("at", context)],
        )
    return values


def reason_labels() -> dict[str, StrOrPromise]:
    """The "needs a reply" reason codes (inbox.lib.assist.needs_reply.REASONS) in words."""
    return {
        "question": _("question mark"),
        "question_word": _("starts like a question"),
        "request": _("asks for something or for help"),
        "complaint": _("negative tone"),
        "thanks": _("thanks or praise"),
        "retweet": _("a retweet"),
        "acknowledgement": _("a short acknowledgement"),
        "link_only": _("only a link"),
        "short": _("very short"),
        "wording": _("the wording, as learned from answered messages"),
    }


def _needs_reply_hint(score: int | None, reasons: str) -> dict[str, str]:
    """The row's hint chip: the score as text, whether it is likely, and why in words."""
    if score is None:
        return {"needs_reply": "", "needs_reply_likely": "", "needs_reply_why": ""}
    labels = reason_labels()
    why = ", ".join(str(labels[r]) for r in reasons.split(",") if r in labels)
    likely = score >= NO_REPLY_LIKELY_BELOW
    text = (
        gettext("Reply likely needed (%(score)s of 100)")
        if likely
        else gettext("No reply likely (%(score)s of 100)")
    ) % {"score": score}
    return {
        "needs_reply": str(score),
        "needs_reply_likely": "yes" if likely else "",
        "needs_reply_why": f"{text}: {why}" if why else text,
    }


def _compact_age(then: datetime, now: datetime) -> str:
    """How long ago, short enough for a phone row: "5 min", "3 h", "2 d"."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 3600:
        return gettext("%(n)s min") % {"n": seconds // 60}
    if seconds < 86400:
        return gettext("%(n)s h") % {"n": seconds // 3600}
    return gettext("%(n)s d") % {"n": seconds // 86400}


def threat_evidence_events(conversation: Conversation) -> QuerySet[ConversationEvent]:
    """The events that kept threat evidence: a person flagged the conversation as a threat
    (enrichment's automatic flag keeps none; flagging it by hand does)."""
    return ConversationEvent.objects.filter(
        conversation=conversation, kind="flagged", data__flag=int(Flag.THREAT)
    )


def contact_history(conversation: Conversation, *, limit: int = 10) -> list[Conversation]:
    """The contact's other conversations, public and private in one list, newest first (uses
    index conv_contact_idx). A handover to private links conversations across channels (a
    mention on X, the chat on WhatsApp: two contacts), so the linked ones join the list."""
    same = Q(contact_id=conversation.contact_id) | Q(continued_in_id=conversation.pk)
    if conversation.continued_in_id:
        same |= Q(pk=conversation.continued_in_id)
    return list(
        Conversation.objects.filter(same)
        .exclude(pk=conversation.pk)
        .only("id", "snippet", "status", "received_at", "contact_id", "is_public", "department_id")
        .order_by("-received_at")[:limit]
    )


def flag_choices() -> list[tuple[int, str]]:
    return [(int(flag), str(label)) for flag, label in Flag.labels().items()]


def status_choices() -> list[tuple[str, StrOrPromise]]:
    return list(Status.choices)


_REFERENCE_SQL: dict[str, tuple[str, tuple]] = {}


def _reference_sql() -> tuple[str, tuple]:
    """The SQL of reference_lists(), compiled by the ORM once per database vendor.

    Compiling this five-part UNION costs ~1 ms of Python on every inbox page, far more than
    running it; its text and parameters never change, so the compiled form is kept. The rows
    themselves are read fresh on every call (a new department shows at once)."""
    key = connection.vendor
    if key not in _REFERENCE_SQL:
        from django.db.models import Case, CharField, IntegerField, Value, When
        from django.db.models.functions import Coalesce, Concat, NullIf, Trim

        from inbox.models import Channel, HouseRule, Label, NoReplyReason
        from routing.models import Department
        from webcare.accounts.models import User

        def tagged(qs, tag, label, sort):
            return qs.values_list(
                Value(tag, output_field=CharField()),
                "id",
                label,
                Value(0, output_field=IntegerField()) if sort is None else sort,
            )

        full_name = Coalesce(
            NullIf(
                Trim(Concat("first_name", Value(" "), "last_name", output_field=CharField())),
                Value(""),
            ),
            "username",
            output_field=CharField(),
        )
        parts = [
            tagged(Department.objects.order_by(), "department", "name", None),
            tagged(Channel.objects.order_by(), "channel", "name", None),
            tagged(
                NoReplyReason.objects.filter(active=True).order_by(), "reason", "label", "order"
            ),
            tagged(HouseRule.objects.filter(active=True).order_by(), "rule", "title", "order"),
            tagged(User.objects.filter(is_active=True).order_by(), "user", full_name, None),
            # Archived labels sort after the active ones (1), and only filter.
            tagged(
                Label.objects.order_by(),
                "label",
                "name",
                Case(When(is_active=True, then=Value(0)), default=Value(1)),
            ),
        ]
        union = parts[0].union(*parts[1:], all=True)
        sql, params = union.query.get_compiler(connection=connection).as_sql()
        _REFERENCE_SQL[key] = (sql, tuple(params))
    return _REFERENCE_SQL[key]


def reference_lists() -> dict[str, list[tuple[int, str]]]:
    """Departments, channels, no-reply reasons, house rules, active users and labels for the
    inbox's selects, in ONE query (a UNION ALL) instead of six: each round trip counts at 50 ms
    p95. "label": the active labels; "archived_label": the others (offered as filters only)."""
    sql, params = _reference_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    lists: dict[str, list] = {
        "department": [],
        "channel": [],
        "reason": [],
        "rule": [],
        "user": [],
        "label": [],
        "archived_label": [],
    }
    for tag, pk, label, sort in sorted(rows, key=lambda r: (r[0], r[3], str(r[2]).casefold())):
        lists["archived_label" if tag == "label" and sort else tag].append((pk, label))
    return lists
