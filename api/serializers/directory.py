"""Shapes of the directory endpoints: contacts, teams, channels, and their query parameters."""

from __future__ import annotations

import base64
import binascii
import json

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from inbox.models import ChannelKind, ChannelStatus, Status

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


def encode_cursor(key: list) -> str:
    """An opaque cursor: the last row's sort key, base64 of its JSON."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_id_cursor(value: str) -> int:
    """The id a contacts cursor holds; ValueError for anything we did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError(value) from None
    if not (isinstance(key, list) and len(key) == 1 and type(key[0]) is int and key[0] > 0):
        raise ValueError(value)
    return key[0]


class ContactQuerySerializer(serializers.Serializer):
    cursor = serializers.CharField(
        required=False, help_text=_("The `next` cursor of the previous page.")
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT
    )
    handle = serializers.CharField(
        required=False, max_length=255, help_text=_("Exactly this handle.")
    )
    search = serializers.CharField(
        required=False,
        max_length=100,
        help_text=_("Part of the handle or the name (case-insensitive)."),
    )

    def validate_cursor(self, value: str) -> int:
        try:
            return decode_id_cursor(value)
        except ValueError:
            raise serializers.ValidationError(_("Not a cursor this API handed out.")) from None


class ChannelRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = serializers.CharField()


class ContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = ChannelRefSerializer()
    external_id = serializers.CharField()
    handle = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)
    profile_url = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    is_blocked = serializers.BooleanField()
    is_fake = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    anonymised = serializers.SerializerMethodField()

    def get_anonymised(self, contact) -> bool:
        return contact.anonymised_at is not None


class ContactPageSerializer(serializers.Serializer):
    results = ContactSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text=_("The next page's URL, or null."))


class ContactConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)
    snippet = serializers.CharField(allow_blank=True)
    received_at = serializers.DateTimeField()
    department_id = serializers.IntegerField(allow_null=True)


class ContactDetailSerializer(ContactSerializer):
    conversations = ContactConversationSerializer(
        many=True,
        help_text=_("The newest conversations of this contact that the token may see."),
    )


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_lead = serializers.BooleanField()


class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField(allow_blank=True)


class TeamDetailSerializer(TeamSerializer):
    members = MemberSerializer(many=True)


class ChannelSerializer(serializers.Serializer):
    """What a channel is and how it is doing. Never its credentials or settings."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    status = serializers.ChoiceField(choices=ChannelStatus.choices)
    poll_interval_seconds = serializers.IntegerField()
    last_poll_started_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    next_poll_at = serializers.DateTimeField(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    ingested_today = serializers.IntegerField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
