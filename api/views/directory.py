"""GET contacts, teams and channels: who writes to us, who answers, and where it comes in.

Every read is narrowed like the UI: a contact shows only when it has a conversation the person
sees (scoped_conversations: their teams, then the token's), a team only when the person sees its
conversations, and a channel never shows its credentials or settings.
"""

from __future__ import annotations

from typing import cast

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.http import urlencode
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api import tokens
from api.auth import scoped_conversations, token_of
from api.serializers.directory import (
    ChannelSerializer,
    ContactConversationSerializer,
    ContactDetailSerializer,
    ContactPageSerializer,
    ContactQuerySerializer,
    ContactSerializer,
    ErrorSerializer,
    MemberSerializer,
    TeamDetailSerializer,
    TeamSerializer,
    encode_cursor,
)
from inbox.models import Channel, Contact
from routing.models import Department, Membership
from webcare.accounts.models import User

# The contact's conversations a detail shows: the newest ones, as the conversation page's
# "earlier conversations" (inbox.selectors.inbox.contact_history) does.
CONTACT_CONVERSATIONS = 50

ERRORS = {
    401: OpenApiResponse(
        ErrorSerializer, description="No token, or an unknown, expired or revoked one."
    ),
    403: OpenApiResponse(ErrorSerializer, description="The person may not read this."),
    429: OpenApiResponse(ErrorSerializer, description="Over the token's rate; see Retry-After."),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="Not there, or not yours to see.")}
BAD_INPUT = {400: OpenApiResponse(description="Field errors: {field: [message, ...]}.")}


def _contacts_seen(request: Request) -> QuerySet[Contact]:
    """Contacts with at least one conversation the person (and token) may see.

    Uses index: conv_contact_idx (contact, received_at DESC) answers the EXISTS per contact, so a
    page walks the contacts' primary key backwards and stops after `limit` hits; no DISTINCT over
    conversations, no COUNT."""
    seen = scoped_conversations(request).filter(contact_id=OuterRef("pk"))
    return Contact.objects.filter(Exists(seen))


@extend_schema(
    operation_id="contacts_list",
    summary="Contacts (keyset pages)",
    parameters=[ContactQuerySerializer],
    responses={200: ContactPageSerializer, **BAD_INPUT, **ERRORS},
)
@api_view(["GET"])
def contact_list(request: Request) -> Response:
    query = ContactQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    qs = _contacts_seen(request).select_related("channel")
    if params.get("handle"):
        qs = qs.filter(handle=params["handle"])  # Uses index: contact_handle_idx
    if params.get("search"):
        # A substring has no index: the walk down the primary key stops after `limit` hits.
        qs = qs.filter(Q(handle__icontains=params["search"]) | Q(name__icontains=params["search"]))
    if "cursor" in params:
        qs = qs.filter(pk__lt=params["cursor"])
    limit = params["limit"]
    rows = list(qs.order_by("-pk")[: limit + 1])
    next_url = None
    if len(rows) > limit:
        rows = rows[:limit]
        args = request.query_params.copy()
        args["cursor"] = encode_cursor([rows[-1].pk])
        next_url = request.build_absolute_uri(request.path) + "?" + urlencode(args, doseq=True)
    return Response({"results": ContactSerializer(rows, many=True).data, "next": next_url})


@extend_schema(
    operation_id="contacts_retrieve",
    summary="A contact and the conversations of theirs the token may see",
    responses={200: ContactDetailSerializer, **NOT_FOUND, **ERRORS},
)
@api_view(["GET"])
def contact_detail(request: Request, pk: int) -> Response:
    contact = _contacts_seen(request).select_related("channel").filter(pk=pk).first()
    if contact is None:
        raise Http404
    # Uses index: conv_contact_idx, as contact_history on the conversation page.
    conversations = (
        scoped_conversations(request)
        .filter(contact_id=contact.pk)
        .only("id", "status", "snippet", "received_at", "department_id", "contact_id")
        .order_by("-received_at", "-id")[:CONTACT_CONVERSATIONS]
    )
    data = ContactSerializer(contact).data
    data["conversations"] = ContactConversationSerializer(conversations, many=True).data
    return Response(data)


def _teams_seen(request: Request) -> QuerySet[Department]:
    """Every team for coordinators and managers, their own teams for staff; then the token's."""
    user = cast(User, request.user)  # IsAuthenticated ran
    qs = Department.objects.all()
    if not (user.is_coordinator or user.is_manager):
        qs = qs.filter(memberships__user=user)
    token = token_of(request)
    if token is not None and tokens.team_ids_of(token):
        qs = qs.filter(pk__in=tokens.team_ids_of(token))
    return qs.order_by("name", "pk")


@extend_schema(
    operation_id="teams_list", summary="Teams", responses={200: TeamSerializer(many=True), **ERRORS}
)
@api_view(["GET"])
def team_list(request: Request) -> Response:
    return Response(TeamSerializer(_teams_seen(request), many=True).data)


@extend_schema(
    operation_id="teams_retrieve",
    summary="A team and its members",
    responses={200: TeamDetailSerializer, **NOT_FOUND, **ERRORS},
)
@api_view(["GET"])
def team_detail(request: Request, pk: int) -> Response:
    team = _teams_seen(request).filter(pk=pk).first()
    if team is None:
        raise Http404
    members = (
        Membership.objects.filter(department=team, user__is_active=True)
        .select_related("user")
        .order_by("-is_lead", "user__first_name", "user__username")
    )
    data = TeamSerializer(team).data
    data["members"] = MemberSerializer(
        [{"id": m.user_id, "name": str(m.user), "is_lead": m.is_lead} for m in members],
        many=True,
    ).data
    return Response(data)


@extend_schema(
    operation_id="channels_list",
    summary="Channels and their health (never their credentials)",
    responses={200: ChannelSerializer(many=True), **ERRORS},
)
@api_view(["GET"])
def channel_list(request: Request) -> Response:
    # Only the columns the API shows: the encrypted credentials are never even read.
    fields = [str(name) for name in ChannelSerializer().fields if name != "ingested_today"]
    channels = Channel.objects.only(*fields, "ingest_day", "ingest_day_count").order_by("name")
    return Response(ChannelSerializer(channels, many=True).data)
