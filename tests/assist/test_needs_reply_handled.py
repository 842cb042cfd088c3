"""Training on the organisation's own handled conversations: a customer message is "answered"
when one of our messages followed it; open and hidden conversations teach nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from inbox.models import Direction, Status
from inbox.services.assist import handled_examples
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def conversation(status, *messages):
    """messages: (direction, text) in time order."""
    start = timezone.now() - timedelta(days=1)
    conv = ConversationFactory(status=status, received_at=start)
    for i, (direction, text) in enumerate(messages):
        MessageFactory(
            conversation=conv,
            direction=direction,
            text=text,
            language="nl",
            created_at=start + timedelta(minutes=i),
        )
    return conv


def test_the_labels_follow_our_answers():
    IN, OUT = Direction.INBOUND, Direction.OUTBOUND
    conversation(
        Status.CLOSED,
        (IN, "Wanneer komt de monteur?"),
        (IN, "Nog steeds niemand"),
        (OUT, "Morgen om 9 uur"),
        (IN, "Top, bedankt!"),
    )
    conversation(Status.NO_REPLY_NEEDED, (IN, "Mooi initiatief van de gemeente"))
    conversation(Status.NEW, (IN, "Open: leert niets"))
    conversation(Status.HIDDEN, (IN, "Verborgen: leert niets"))
    labels = {e.text: e.needs_reply for e in handled_examples()}
    assert labels == {
        "Wanneer komt de monteur?": True,
        "Nog steeds niemand": True,
        "Top, bedankt!": False,
        "Mooi initiatief van de gemeente": False,
    }


def test_the_command_trains_a_dutch_model_from_handled_conversations(tmp_path, monkeypatch):
    from inbox.management.commands import train_needs_reply

    IN, OUT = Direction.INBOUND, Direction.OUTBOUND
    out = tmp_path / "eigen.json"
    with pytest.raises(CommandError, match="too few handled messages"):
        call_command("train_needs_reply", from_handled=True, output=out)
    for i in range(3):
        conversation(Status.CLOSED, (IN, f"Hoe lang duurt reparatie {i}?"), (OUT, "Een week"))
        conversation(Status.NO_REPLY_NEEDED, (IN, f"Dank jullie wel {i}"))
    monkeypatch.setattr(train_needs_reply, "MIN_PER_KIND", 3)
    monkeypatch.setattr(train_needs_reply, "MIN_PER_LANGUAGE", 6)
    call_command("train_needs_reply", from_handled=True, output=out)
    data = json.loads(out.read_text())
    assert data["languages"] == ["nl"] and data["examples"] == 6 and data["answered"] == 3
    assert data["lexical"]["weights"]["w:dank"] < 0 < data["lexical"]["weights"]["w:hoe"]
