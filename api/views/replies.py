"""Replies through the API: the person's draft, submitting it, a colleague's approval, its state.

The same services as the composer and the review queue (inbox.services.replies): submitting goes
to review when the team's policy asks for it, otherwise to the outbox; approving queues it. The
outbox task posts after the transaction commits; the API never calls a platform itself.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api.auth import scoped_conversations
from api.serializers import conversations as s
from api.views.conversations import BAD_INPUT, ERRORS, READ_ERRORS, get_conversation, refusals
from inbox.models import Reply
from inbox.selectors import team as team_selectors
from inbox.services import replies as reply_services

WRITE_ERRORS = {code: ERRORS[code] for code in (401, 403, 404, 429)}


def get_reply(request: Request, pk: int) -> Reply:
    """The reply, when its conversation is one the request sees; a 404 otherwise."""
    reply = (
        Reply.objects.select_related(
            "conversation__channel",
            "conversation__contact",
            "conversation__department",
            "author",
            "reviewer",
        )
        .filter(pk=pk)
        .first()
    )
    if reply is None or not scoped_conversations(request).filter(pk=reply.conversation_id).exists():
        raise Http404
    return reply


def _answer(reply: Reply, code: int = status.HTTP_200_OK) -> Response:
    fresh = Reply.objects.select_related("author", "reviewer").get(pk=reply.pk)
    return Response(s.ReplySerializer(fresh).data, status=code)


@extend_schema(
    summary="Write or update your draft reply",
    description="Creates your draft on the conversation (201), or updates the one you have "
    "(200); every save keeps a version for the audit trail. Nothing is sent until you submit.",
    request=s.DraftSerializer,
    responses={200: s.ReplySerializer, 201: s.ReplySerializer, 400: BAD_INPUT, **WRITE_ERRORS},
)
@api_view(["POST"])
def draft(request: Request, pk: int) -> Response:
    conv = get_conversation(request, pk)
    data = s.DraftSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    existing = team_selectors.draft_of(conv, request.user)
    with refusals():
        reply = reply_services.save_draft(
            conversation=conv,
            text=data.validated_data["text"],
            acting_user=request.user,
            reply=existing,
            private=data.validated_data["private"],
            after_send=data.validated_data["after_send"],
        )
    return _answer(reply, status.HTTP_200_OK if existing else status.HTTP_201_CREATED)


@extend_schema(summary="A reply and its state", responses={200: s.ReplySerializer, **READ_ERRORS})
@api_view(["GET"])
def reply_detail(request: Request, pk: int) -> Response:
    return Response(s.ReplySerializer(get_reply(request, pk)).data)


@extend_schema(
    summary="Submit your draft",
    description="To review (state `in_review`) when the team's review policy asks for it, "
    "otherwise into the outbox (`queued`); it is posted once the change is saved.",
    request=s.SubmitSerializer,
    responses={200: s.ReplySerializer, 400: BAD_INPUT, **WRITE_ERRORS},
)
@api_view(["POST"])
def submit(request: Request, pk: int) -> Response:
    reply = get_reply(request, pk)
    if reply.author_id != request.user.pk:
        # Whose draft it is decides who may send it: a permission, so a 403 before any input.
        raise PermissionDenied(_("Only your own draft can be sent."))
    data = s.SubmitSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    with refusals():
        reply_services.submit_reply(
            reply=reply,
            acting_user=request.user,
            split=data.validated_data["split"],
            public_notice=data.validated_data["public_notice"],
        )
    return _answer(reply)


@extend_schema(
    summary="Approve a colleague's reply",
    description="The reviewer (not the author) approves, optionally with an edited text; the "
    "reply goes into the outbox (`queued`).",
    request=s.ApproveSerializer,
    responses={200: s.ReplySerializer, 400: BAD_INPUT, **WRITE_ERRORS},
)
@api_view(["POST"])
def approve(request: Request, pk: int) -> Response:
    reply = get_reply(request, pk)
    if reply.author_id == request.user.pk:
        raise PermissionDenied(_("Ask a colleague: you cannot review your own reply."))
    data = s.ApproveSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    with refusals():
        reply_services.approve_reply(
            reply=reply, acting_user=request.user, text=data.validated_data.get("text") or None
        )
    return _answer(reply)
