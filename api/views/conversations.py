"""/api/v1/conversations/: the list (the inbox's filters, keyset pages), one conversation with
its thread, and the triage and team actions.

Every lookup starts from scoped_conversations(request): what the person sees in the UI, narrowed
to the token's teams, so another team's conversation is a 404 whatever the action. Every action
is one call of the service the UI calls (its permission check, audit event and SLA hooks); a
stale `version` is the services' ConflictError, a 409.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet, prefetch_related_objects
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from api.auth import scoped_conversations, token_allows_team
from api.serializers import conversations as s
from inbox.models import Conversation
from inbox.selectors import team as team_selectors
from inbox.selectors.inbox import filter_conversations, keyset_page, needs_reply_page
from inbox.services import labels as label_services
from inbox.services import replies as reply_services
from inbox.services import team as team_services
from inbox.services import triage
from inbox.services.refusals import ActionRefused
from webcare.accounts.models import User

ERRORS = {
    code: OpenApiResponse(s.ApiErrorSerializer, description=text)
    for code, text in (
        (401, "No valid token."),
        (403, "The token is read-only, or the person may not do this."),
        (404, "No such conversation, or not one this token sees."),
        (409, "Changed by someone else since `version` was read; nothing was changed."),
        (429, "Over the token's rate limit; see Retry-After."),
    )
}
# A 400 is either field errors ({"field": ["message"]}) or a service's refusal ({"detail": …}).
BAD_INPUT = OpenApiResponse(OpenApiTypes.OBJECT, description="Bad input: field errors or detail.")
READ_ERRORS = {code: ERRORS[code] for code in (401, 404, 429)}


def action_responses(*codes: int) -> dict[int, Any]:
    return {
        200: s.ConversationSerializer,
        400: BAD_INPUT,
        **{code: ERRORS[code] for code in (401, 403, 404, 429, *codes)},
    }


@contextmanager
def refusals() -> Iterator[None]:
    """A model rule a service enforces (ValidationError) answers like its ActionRefused: 400."""
    try:
        yield
    except DjangoValidationError as exc:
        raise ActionRefused(" ".join(exc.messages)) from exc


def get_conversation(request: Request, pk: int) -> Conversation:
    conv = (
        scoped_conversations(request)
        .select_related(*s.ROW_RELATED)
        .prefetch_related(*s.ROW_PREFETCH)
        .filter(pk=pk)
        .first()
    )
    if conv is None:
        raise Http404
    return conv


def filtered(qs: QuerySet[Conversation], filters: dict[str, Any]) -> QuerySet[Conversation]:
    """The person's conversations narrowed by team, then by the inbox's own filters.

    Uses index: with the default status (open) conv_open_inbox_idx serves the ORDER BY of the
    keyset; one status uses conv_status_idx, one department conv_dept_status_idx."""
    department = filters.get("department")
    if department == "none":
        qs = qs.filter(department__isnull=True)
    elif department is not None:
        qs = qs.filter(department_id=department)
    flag = filters.get("flag")
    return filter_conversations(qs, {**filters, "flag": int(s.FLAG_NAMES[flag]) if flag else None})


@extend_schema(
    summary="List conversations",
    operation_id="conversations_list",
    description="Newest first, as the inbox: (received_at, id) descending; with "
    "`sort=needs_reply` most likely needs a reply first, as the inbox's order of that name. "
    "Follow `next` for the following page; there is no total (counting a million rows costs "
    "more than the page).",
    parameters=[s.ConversationListQuerySerializer],
    responses={200: s.ConversationPageSerializer, 400: BAD_INPUT, **READ_ERRORS},
)
@api_view(["GET"])
def conversation_list(request: Request) -> Response:
    query = s.ConversationListQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    filters = query.validated_data
    # The inbox's two orders and their keyset pages (validate() matched the cursor to it).
    page = needs_reply_page if filters["sort"] == "needs_reply" else keyset_page
    rows, next_key = page(
        filtered(scoped_conversations(request), filters),
        before=filters.get("cursor"),
        size=filters["limit"],
        related=s.ROW_RELATED,
        fields=s.ROW_FIELDS,
    )
    prefetch_related_objects(rows, *s.ROW_PREFETCH)
    next_url = None
    if next_key is not None:
        next_url = replace_query_param(
            request.build_absolute_uri(), "cursor", s.encode_cursor(next_key)
        )
    return Response({"results": [s.row_values(c) for c in rows], "next": next_url})


@extend_schema(
    summary="One conversation with its messages, notes and replies",
    parameters=[
        OpenApiParameter(
            "messages",
            str,
            enum=["all"],
            required=False,
            description="`all`: every message; by default the latest 50 (see earlier_messages).",
        ),
        OpenApiParameter(
            "replies",
            str,
            enum=["all"],
            required=False,
            description="`all`: every reply; by default the latest 10 (see earlier_replies).",
        ),
    ],
    responses={200: s.ConversationDetailSerializer, **READ_ERRORS},
)
@api_view(["GET"])
def conversation_detail(request: Request, pk: int) -> Response:
    conv = get_conversation(request, pk)
    every = {name: request.query_params.get(name) == "all" for name in ("messages", "replies")}
    thread, earlier_messages = team_selectors.thread_of(
        conv, latest=None if every["messages"] else team_selectors.RECENT_MESSAGES
    )
    replies, earlier_replies = team_selectors.replies_for(
        conv, latest=None if every["replies"] else team_selectors.RECENT_REPLIES
    )
    context = {
        "thread": thread,
        "earlier_messages": earlier_messages,
        "notes": team_selectors.notes_for(conv),
        "replies": replies,
        "earlier_replies": earlier_replies,
    }
    return Response(s.ConversationDetailSerializer(conv, context=context).data)


def _act(
    request: Request,
    pk: int,
    serializer_class: type,
    action: Callable[[Conversation, dict[str, Any]], Any],
) -> Response:
    """Look up (404 outside the scope), validate (400), one service call, the changed row."""
    conv = get_conversation(request, pk)
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    with refusals():
        action(conv, data.validated_data)
    changed = (
        Conversation.objects.select_related(*s.ROW_RELATED)
        .prefetch_related(*s.ROW_PREFETCH)
        .get(pk=conv.pk)
    )
    return Response(s.ConversationSerializer(changed).data)


@extend_schema(
    summary="Forward to a department team",
    request=s.ForwardSerializer,
    responses=action_responses(409),
)
@api_view(["POST"])
def forward(request: Request, pk: int) -> Response:
    def act(conv: Conversation, data: dict[str, Any]) -> Any:
        if not token_allows_team(request, data["department"].pk):
            raise PermissionDenied(_("This token is limited to other teams."))
        return triage.forward_conversation(
            conversation=conv,
            department=data["department"],
            acting_user=request.user,
            version=data["version"],
            note=data["note"],
        )

    return _act(request, pk, s.ForwardSerializer, act)


@extend_schema(
    summary="Assign to a person",
    description="A coordinator assigns to any active colleague (triage); a team member gives "
    "the conversation to a member of its team, who is notified (as in the team workspace).",
    request=s.AssignSerializer,
    responses=action_responses(409),
)
@api_view(["POST"])
def assign(request: Request, pk: int) -> Response:
    def act(conv: Conversation, data: dict[str, Any]) -> Any:
        if cast(User, request.user).is_coordinator:
            return triage.assign_conversation(
                conversation=conv,
                assignee=data["assignee"],
                acting_user=request.user,
                version=data["version"],
            )
        return team_services.reassign_conversation(
            conversation=conv,
            assignee=data["assignee"],
            acting_user=request.user,
            expected_version=data["version"],
        )

    return _act(request, pk, s.AssignSerializer, act)


@extend_schema(
    summary="Hide under a house rule",
    description="Hidden here and, after the change is saved, on the platform; the audit trail "
    "quotes the rule.",
    request=s.HideSerializer,
    responses=action_responses(409),
)
@api_view(["POST"])
def hide(request: Request, pk: int) -> Response:
    return _act(
        request,
        pk,
        s.HideSerializer,
        lambda conv, data: triage.hide_conversation(
            conversation=conv,
            rule=data["house_rule"],
            acting_user=request.user,
            version=data["version"],
        ),
    )


@extend_schema(
    summary="Add and remove labels",
    description="Archived labels cannot be added; labels already on (or off) are left alone. "
    "Whoever may act on the conversation in the UI may label it.",
    request=s.LabelsSerializer,
    responses=action_responses(409),
)
@api_view(["POST"])
def labels(request: Request, pk: int) -> Response:
    return _act(
        request,
        pk,
        s.LabelsSerializer,
        lambda conv, data: label_services.set_labels(
            conversation=conv,
            add=data["add"],
            remove=data["remove"],
            acting_user=request.user,
            version=data["version"],
        ),
    )


@extend_schema(
    summary="Mark as needing no reply",
    request=s.NoReplySerializer,
    responses=action_responses(409),
)
@api_view(["POST"])
def no_reply_needed(request: Request, pk: int) -> Response:
    return _act(
        request,
        pk,
        s.NoReplySerializer,
        lambda conv, data: triage.mark_no_reply_needed(
            conversation=conv,
            reason=data["reason"],
            acting_user=request.user,
            version=data["version"],
            note=data["note"],
        ),
    )


@extend_schema(
    summary="Claim: take a team conversation yourself",
    request=s.TeamActionSerializer,
    responses=action_responses(409),
)
@api_view(["POST"])
def claim(request: Request, pk: int) -> Response:
    return _act(
        request,
        pk,
        s.TeamActionSerializer,
        lambda conv, data: team_services.claim_conversation(
            conversation=conv, acting_user=request.user, expected_version=data.get("version")
        ),
    )


@extend_schema(
    summary="Close the conversation",
    request=s.CloseSerializer,
    responses=action_responses(),
)
@api_view(["POST"])
def close(request: Request, pk: int) -> Response:
    return _act(
        request,
        pk,
        s.CloseSerializer,
        lambda conv, data: reply_services.close_conversation(
            conversation=conv, acting_user=request.user, reason=data["reason"]
        ),
    )


@extend_schema(
    summary="Wait on the customer (pauses the SLA clock)",
    request=None,
    responses=action_responses(),
)
@api_view(["POST"])
def waiting(request: Request, pk: int) -> Response:
    return _act(
        request,
        pk,
        s.NoInputSerializer,
        lambda conv, data: reply_services.set_waiting_on_customer(
            conversation=conv, acting_user=request.user
        ),
    )
