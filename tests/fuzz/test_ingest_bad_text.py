"""What fuzzing found in ingest: a platform's JSON can carry a lone surrogate ("\\ud800").

PostgreSQL cannot store it; before the fix the whole batch failed on every poll
(a poison pill). Now it is stored as U+FFFD and the rest of the message is kept.
"""

from datetime import UTC, datetime

import pytest

from inbox.channels.base import IncomingMessage
from inbox.models import Contact, Message
from inbox.services.ingest import ingest_messages

pytestmark = pytest.mark.django_db


def test_lone_surrogates_and_nul_are_stored_as_replacement_characters(channel):
    message = IncomingMessage(
        external_id="m-\ud800-1",
        text="Hallo \ud800 wereld\x00!",
        created_at=datetime(2025, 3, 14, 9, 0, tzinfo=UTC),
        author_id="a-1",
        author_handle="jan\udfff",
        author_name="Jan \ud83d",
        raw={"text": "Hallo \ud800"},
    )
    ingest_messages(channel=channel, messages=[message])
    stored = Message.objects.get(channel=channel)
    assert stored.text == "Hallo \ufffd wereld!"
    assert stored.external_id == "m-\ufffd-1"
    assert stored.raw == {"text": "Hallo \ufffd"}
    assert Contact.objects.get(channel=channel).name == "Jan \ufffd"
    # Idempotent: the same delivery again adds nothing.
    ingest_messages(channel=channel, messages=[message])
    assert Message.objects.filter(channel=channel).count() == 1
