"""Migration 0014 clears non-web links stored before ingest filtered them."""

import importlib

import pytest
from django.apps import apps

from tests.factories import ContactFactory, MessageFactory

pytestmark = pytest.mark.django_db
migration = importlib.import_module("inbox.migrations.0014_clear_non_web_urls")


def test_only_http_links_survive_and_a_second_run_changes_nothing(conversation):
    bad = MessageFactory(conversation=conversation, url=" javascript:alert(1)")
    good = MessageFactory(conversation=conversation, url="HTTPS://example.org/x")
    contact = ContactFactory(
        channel=conversation.channel,
        avatar_url="data:text/html,<script>alert(1)</script>",
        profile_url="http://example.org/u",
    )
    for _ in range(2):
        migration.clear_non_web_urls(apps, None)
        bad.refresh_from_db()
        good.refresh_from_db()
        contact.refresh_from_db()
        assert bad.url == "" and good.url == "HTTPS://example.org/x"
        assert contact.avatar_url == "" and contact.profile_url == "http://example.org/u"
