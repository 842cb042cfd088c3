"""Conversations and replies as the API shows them, and the input of the list and its actions.

Input serializers only validate and look up (a department, a house rule, a person); the views
hand what they return to the same service functions the UI calls.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from django.db.models import Prefetch
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inbox.forms import LANGUAGES, TEXT_LIMIT
from inbox.lib.assist.needs_reply import REASONS
from inbox.models import (
    AfterSend,
    Channel,
    Conversation,
    Flag,
    HouseRule,
    Label,
    LabelColour,
    NoReplyReason,
    Reply,
    ReplyState,
    Sentiment,
    SlaState,
    Status,
)
from inbox.selectors.inbox import NO_REPLY_LIKELY_BELOW
from routing.models import Department
from webcare.accounts.models import User

# --- Output ---------------------------------------------------------------------------------

FLAG_NAMES = {flag.name.lower(): flag for flag in Flag if flag.name}
# The columns a list row reads (the page loads only these: fewer columns, less Python per row).
ROW_FIELDS = (
    "id",
    "status",
    "channel_id",
    "contact_id",
    "department_id",
    "assignee_id",
    "channel__id",
    "channel__kind",
    "channel__name",
    "contact__id",
    "contact__handle",
    "contact__name",
    "contact__external_id",
    "department__id",
    "department__name",
    "assignee__id",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__username",
    "language",
    "sentiment",
    "priority",
    "flags",
    "sla_state",
    "sla_due_at",
    "snippet",
    "received_at",
    "version",
    "needs_reply",
    "needs_reply_reasons",
)
ROW_RELATED = ("channel", "contact", "department", "assignee")
# One query for the labels of a whole page.
ROW_PREFETCH = (Prefetch("labels", queryset=Label.objects.order_by("name")),)


class ApiErrorSerializer(serializers.Serializer):
    """Every refusal: 401, 403, 404, 409, 429, and a service's 400."""

    detail = serializers.CharField()


class RefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ConversationChannelSerializer(RefSerializer):
    kind = serializers.CharField()


class ContactRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    handle = serializers.CharField()
    name = serializers.CharField()


class LabelRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    colour = serializers.ChoiceField(choices=LabelColour.choices)


class ConversationSerializer(serializers.ModelSerializer):
    """A row of the list; also what every action answers with (its new `version` included).

    The fields describe the row for the schema; row_values() writes it, for the list and the
    actions alike: DRF's per-field machinery cost ~0.3 ms a row, as much as the rest of a
    50-row page at 1,000,000 conversations."""

    channel = ConversationChannelSerializer(read_only=True)
    contact = ContactRefSerializer(read_only=True)
    department = RefSerializer(read_only=True, allow_null=True)
    assignee = RefSerializer(read_only=True, allow_null=True)
    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(FLAG_NAMES)), read_only=True
    )
    labels = LabelRefSerializer(many=True, read_only=True)
    # The inbox's hint (inbox.lib.assist.needs_reply): a hint only, nothing is hidden by it.
    needs_reply = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        min_value=0,
        max_value=100,
        help_text=format_lazy(
            _(
                "How likely the latest customer message needs a reply, 0-100 (below {n}: no "
                "reply likely); null when not scored."
            ),
            n=NO_REPLY_LIKELY_BELOW,
        ),
    )
    needs_reply_reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=list(REASONS)),
        read_only=True,
        help_text=_("What pushed the score the way it went."),
    )
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    sentiment = serializers.ChoiceField(choices=Sentiment.choices, read_only=True)
    sla_state = serializers.ChoiceField(choices=SlaState.choices, read_only=True)

    class Meta:
        model = Conversation
        fields: tuple[str, ...] = (
            "id",
            "status",
            "channel",
            "contact",
            "department",
            "assignee",
            "language",
            "sentiment",
            "priority",
            "flags",
            "labels",
            "needs_reply",
            "needs_reply_reasons",
            "sla_state",
            "sla_due_at",
            "snippet",
            "received_at",
            "version",
        )
        read_only_fields: tuple[str, ...] = fields

    def to_representation(self, instance: Conversation) -> dict[str, Any]:
        return row_values(instance)


def row_values(c: Conversation) -> dict[str, Any]:
    """A conversation as the API shows it (ConversationSerializer documents the shape; a test
    holds every key to the schema). Its labels come prefetched (ROW_PREFETCH)."""
    assignee = c.assignee
    return {
        "id": c.pk,
        "status": c.status,
        "channel": {"id": c.channel.pk, "kind": c.channel.kind, "name": c.channel.name},
        "contact": {"id": c.contact.pk, "handle": c.contact.handle, "name": c.contact.name},
        "department": None
        if c.department is None
        else {"id": c.department.pk, "name": c.department.name},
        "assignee": None if assignee is None else {"id": assignee.pk, "name": str(assignee)},
        "language": c.language,
        "sentiment": c.sentiment,
        "priority": c.priority,
        "flags": [name for name, flag in FLAG_NAMES.items() if c.flags & flag],
        "labels": [
            {"id": label.pk, "name": label.name, "colour": label.colour} for label in c.labels.all()
        ],
        "needs_reply": c.needs_reply,
        "needs_reply_reasons": [r for r in c.needs_reply_reasons.split(",") if r in REASONS],
        "sla_state": c.sla_state,
        "sla_due_at": _stamp(c.sla_due_at),
        "snippet": c.snippet,
        "received_at": _stamp(c.received_at),
        "version": c.version,
    }


_datetime_field = serializers.DateTimeField()


def _stamp(value: datetime | None) -> str | None:
    """As DRF writes a time (the request's time zone, ISO 8601)."""
    return None if value is None else _datetime_field.to_representation(value)


class ConversationPageSerializer(serializers.Serializer):
    results = ConversationSerializer(many=True)
    next = serializers.URLField(allow_null=True)


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    direction = serializers.CharField()
    author = serializers.CharField(source="contact")
    sent_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    is_public = serializers.BooleanField()
    url = serializers.CharField()
    text = serializers.CharField()


class NoteSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    author = serializers.CharField()
    created_at = serializers.DateTimeField()
    text = serializers.CharField()


# The reply's life as the API names it (the model's states, in an integration's words).
REPLY_STATES = {
    ReplyState.DRAFT: "draft",
    ReplyState.PENDING_REVIEW: "in_review",
    ReplyState.APPROVED: "queued",
    ReplyState.SENDING: "sending",
    ReplyState.SENT: "sent",
    ReplyState.FAILED: "failed",
    ReplyState.UNKNOWN: "unknown",
}


class ReplySummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    state = serializers.SerializerMethodField()
    author = serializers.CharField()
    text = serializers.CharField()
    private = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=list(REPLY_STATES.values())))
    def get_state(self, reply) -> str:
        return REPLY_STATES[ReplyState(reply.state)]

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_url(self, reply) -> str | None:
        return reply.external_url or None


class ConversationDetailSerializer(ConversationSerializer):
    messages = serializers.SerializerMethodField()
    earlier_messages = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField()
    replies = serializers.SerializerMethodField()
    earlier_replies = serializers.SerializerMethodField()
    status_reason = serializers.CharField(read_only=True)
    message_count = serializers.IntegerField(read_only=True)

    class Meta(ConversationSerializer.Meta):
        fields = (
            *ConversationSerializer.Meta.fields,
            "status_reason",
            "message_count",
            "messages",
            "earlier_messages",
            "notes",
            "replies",
            "earlier_replies",
        )
        read_only_fields = fields

    def to_representation(self, instance: Conversation) -> dict[str, Any]:
        return {
            **row_values(instance),
            "status_reason": instance.status_reason,
            "message_count": instance.message_count,
            "messages": self.get_messages(instance),
            "earlier_messages": self.get_earlier_messages(instance),
            "notes": self.get_notes(instance),
            "replies": self.get_replies(instance),
            "earlier_replies": self.get_earlier_replies(instance),
        }

    # The views read the thread, notes and replies through the team selectors and pass them in
    # the context: a serializer runs no queries of its own.
    @extend_schema_field(MessageSerializer(many=True))
    def get_messages(self, c: Conversation) -> list[Any]:
        return list(MessageSerializer(self.context["thread"], many=True).data)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_earlier_messages(self, c: Conversation) -> bool:
        return self.context["earlier_messages"]

    @extend_schema_field(NoteSerializer(many=True))
    def get_notes(self, c: Conversation) -> list[Any]:
        return list(NoteSerializer(self.context["notes"], many=True).data)

    @extend_schema_field(ReplySummarySerializer(many=True))
    def get_replies(self, c: Conversation) -> list[Any]:
        return list(ReplySummarySerializer(self.context["replies"], many=True).data)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_earlier_replies(self, c: Conversation) -> bool:
        return self.context["earlier_replies"]


class ReplySerializer(serializers.ModelSerializer):
    conversation = serializers.IntegerField(source="conversation_id", read_only=True)
    state = serializers.SerializerMethodField()
    author = serializers.SerializerMethodField()
    reviewer = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    after_send = serializers.ChoiceField(choices=AfterSend.choices, read_only=True)

    class Meta:
        model = Reply
        fields = (
            "id",
            "conversation",
            "state",
            "text",
            "private",
            "after_send",
            "parts",
            "author",
            "reviewer",
            "review_comment",
            "last_error",
            "url",
            "created_at",
            "submitted_at",
            "approved_at",
            "sent_at",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=list(REPLY_STATES.values())))
    def get_state(self, reply: Reply) -> str:
        return REPLY_STATES[ReplyState(reply.state)]

    @extend_schema_field(RefSerializer)
    def get_author(self, reply: Reply) -> dict[str, Any]:
        return {"id": reply.author_id, "name": str(reply.author)}

    @extend_schema_field(RefSerializer(allow_null=True))
    def get_reviewer(self, reply: Reply) -> dict[str, Any] | None:
        if reply.reviewer_id is None:
            return None
        return {"id": reply.reviewer_id, "name": str(reply.reviewer)}

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_url(self, reply: Reply) -> str | None:
        """The post on the platform, once sent."""
        return reply.external_url or None


# --- Input ----------------------------------------------------------------------------------


def encode_cursor(key: tuple[datetime, int] | tuple[int, datetime, int]) -> str:
    """The last row's keyset as an opaque token: (received_at, id) newest first, (score,
    received_at, id) with sort=needs_reply."""
    raw = "|".join(v.isoformat() if isinstance(v, datetime) else str(v) for v in key).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, int] | tuple[int, datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        *score, stamp, pk = raw.split("|")
        received_at = datetime.fromisoformat(stamp)
        if received_at.tzinfo is None or int(pk) < 1 or len(score) > 1:
            raise ValueError
        if score:
            # needs_reply_key(): the score, -1 for the unscored rows at the end.
            if not -1 <= int(score[0]) <= 100:
                raise ValueError
            return int(score[0]), received_at, int(pk)
        return received_at, int(pk)
    except (ValueError, UnicodeError, binascii.Error):
        raise serializers.ValidationError(
            _("Not a cursor of this list; use the `next` link of the previous page.")
        ) from None


@extend_schema_field(OpenApiTypes.STR)
class DepartmentFilterField(serializers.Field):
    """`none`: the shared queue (not forwarded to a team); a number: that team."""

    def to_internal_value(self, data: Any) -> Any:
        value = str(data).strip()
        if value == "none":
            return value
        if not value.isdigit() or not Department.objects.filter(pk=int(value)).exists():
            raise serializers.ValidationError(_("No such department."))
        return int(value)


# Named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]: other components have a "status" too.
STATUS_FILTER_CHOICES = ["open", "all", *Status.values]
SORT_CHOICES = ["newest", "needs_reply"]


class ConversationListQuerySerializer(serializers.Serializer):
    """The inbox's filters (inbox.forms.InboxFilterForm), for the list's query string."""

    status = serializers.ChoiceField(
        choices=STATUS_FILTER_CHOICES,
        default="open",
        help_text=_("open (default): every open status; all; or one status."),
    )
    department = DepartmentFilterField(
        required=False,
        help_text=_(
            "A department's id, or `none` for the shared queue; every team you see by default."
        ),
    )
    channel = serializers.PrimaryKeyRelatedField(queryset=Channel.objects.all(), required=False)
    flag = serializers.ChoiceField(choices=sorted(FLAG_NAMES), required=False)
    language = serializers.ChoiceField(
        choices=[code for code, _ in LANGUAGES if code], required=False
    )
    sentiment = serializers.ChoiceField(choices=Sentiment.values, required=False)
    overdue = serializers.BooleanField(default=False)
    unassigned = serializers.BooleanField(default=False)
    no_reply_likely = serializers.BooleanField(
        default=False,
        help_text=format_lazy(
            _(
                "Only what the needs-reply hint scored below {n}: the low-priority view. "
                "Unscored conversations are left out."
            ),
            n=NO_REPLY_LIKELY_BELOW,
        ),
    )
    # A declared field named like Field.label: the serializer metaclass takes it as a field.
    label = serializers.PrimaryKeyRelatedField(queryset=Label.objects.all(), required=False)  # type: ignore[assignment]
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    cursor = serializers.CharField(required=False, max_length=200)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)
    sort = serializers.ChoiceField(
        choices=SORT_CHOICES,
        default="newest",
        help_text=_(
            "newest (default): newest first; needs_reply: most likely needs a reply first "
            "(score, then newest), unscored last."
        ),
    )

    def validate_cursor(self, value: str) -> tuple[datetime, int] | tuple[int, datetime, int]:
        return decode_cursor(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A page key of one order read in the other would skip or repeat rows.
        cursor = attrs.get("cursor")
        if cursor is not None and (len(cursor) == 3) != (attrs["sort"] == "needs_reply"):
            raise serializers.ValidationError(
                {"cursor": [_("This cursor belongs to the list in another order.")]}
            )
        return attrs


MAX_VERSION = 2**31 - 1  # the column's range (PostgreSQL integer)


class VersionedSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VERSION,
        help_text=_("The conversation's version as you last read it."),
    )


class ForwardSerializer(VersionedSerializer):
    department = serializers.PrimaryKeyRelatedField(queryset=Department.objects.all())
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class AssignSerializer(VersionedSerializer):
    """Coordinators assign to any active colleague; staff give it to a member of the team."""

    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))


class HideSerializer(VersionedSerializer):
    house_rule = serializers.PrimaryKeyRelatedField(queryset=HouseRule.objects.filter(active=True))


class LabelsSerializer(VersionedSerializer):
    add = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(), many=True, required=False, default=list
    )
    remove = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(), many=True, required=False, default=list
    )


class NoReplySerializer(VersionedSerializer):
    reason = serializers.PrimaryKeyRelatedField(queryset=NoReplyReason.objects.filter(active=True))
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class TeamActionSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VERSION,
        required=False,
        help_text=_("The version you last read: a conflict check (409), optional."),
    )


class NoInputSerializer(serializers.Serializer):
    """An action without input (unknown fields are ignored, as everywhere in DRF)."""


class CloseSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class DraftSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=TEXT_LIMIT)
    private = serializers.BooleanField(default=False)
    after_send = serializers.ChoiceField(choices=AfterSend.choices, default=AfterSend.ANSWERED)


class SubmitSerializer(serializers.Serializer):
    split = serializers.BooleanField(
        default=False, help_text=_("Split a text over the platform's limit into a thread.")
    )
    public_notice = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, default=""
    )


class ApproveSerializer(serializers.Serializer):
    text = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=TEXT_LIMIT,
        help_text=_("The reviewer's edit; empty: approve the text as it is."),
    )
