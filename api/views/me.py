"""GET /api/v1/me/: who the request acts as, and what its token may do."""

from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api import tokens
from api.auth import token_of
from webcare.accounts.models import User


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField()
    token_kind = serializers.CharField(allow_null=True)
    scope = serializers.ChoiceField(choices=["read", "write"])
    team_ids = serializers.ListField(child=serializers.IntegerField())


@extend_schema(responses=MeSerializer, summary="Who this token acts as")
@api_view(["GET"])
def me(request: Request) -> Response:
    token = token_of(request)
    user = cast(User, request.user)  # IsAuthenticated ran
    return Response(
        MeSerializer(
            {
                "id": user.pk,
                "username": user.get_username(),
                "name": str(user),
                "role": user.role,
                "token_kind": token.kind if token else None,
                "scope": token.scope if token else "write",
                "team_ids": sorted(tokens.team_ids_of(token)) if token else [],
            }
        ).data
    )
