"""Similar answered conversations and suggested canned answers (assist): ranking in Dutch and
English, the worker's incremental updates after ingest, the permission filter, the panel, and
the fallback without an index file. The real encoder and the real faiss index throughout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assist import selectors, services, vectors
from assist.models import CannedVector, ConversationVector
from inbox.channels.base import IncomingMessage
from inbox.models import CannedAnswer, Direction
from inbox.services.ingest import ingest_messages
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

PAST = [
    # (customer text, the reply that was sent)
    (
        "Ik heb een lekkage in de badkamer, er druppelt water door het plafond van de benedenburen.",
        "Vervelend! We sturen vandaag een loodgieter langs voor de lekkage. ^MK",
    ),
    (
        "Mijn huur is per 1 juli met 5% verhoogd, klopt dat wel? Ik vind het veel te veel.",
        "De huurverhoging volgt de wettelijke regels; u kunt bezwaar maken via het formulier. ^MK",
    ),
    (
        "My parcel was supposed to arrive yesterday but the tracking page shows nothing.",
        "Sorry about that! Please DM us your order number and we will chase the courier. ^JS",
    ),
]


@pytest.fixture(autouse=True)
def own_var_dir(settings, tmp_path):
    # The index file lives under VAR_DIR: each test gets its own.
    settings.VAR_DIR = tmp_path


def answered(text: str, reply: str, **conversation):
    conv = ConversationFactory(snippet=text[:280], **conversation)
    MessageFactory(conversation=conv, text=text)
    MessageFactory(
        conversation=conv,
        text=reply,
        direction=Direction.OUTBOUND,
        created_at=conv.received_at + timedelta(minutes=10),
    )
    return conv


def asking(text: str, **conversation):
    conv = ConversationFactory(snippet=text[:280], **conversation)
    MessageFactory(conversation=conv, text=text)
    return conv


def past(team=None):
    return [answered(text, reply, department=team) for text, reply in PAST]


def test_a_dutch_question_finds_the_leak_and_an_english_one_the_parcel(coordinator, team_a):
    leak, rent, parcel = past(team_a)
    question = asking("Help, lekkage badkamer! Het water loopt langs de muur.", department=team_a)
    english = asking("Where is my package? Tracking has not updated in days.", department=team_a)
    services.update_similar()

    dutch = selectors.similar_conversations(
        coordinator, question.pk, selectors.query_vector(question.pk)
    )
    assert [s.conversation_id for s in dutch][0] == leak.pk
    assert rent.pk not in [s.conversation_id for s in dutch[:1]]
    assert dutch[0].reply.startswith("Vervelend!")
    assert 0 < dutch[-1].percent <= dutch[0].percent <= 100
    found = selectors.similar_conversations(
        coordinator, english.pk, selectors.query_vector(english.pk)
    )
    assert found[0].conversation_id == parcel.pk
    # Unanswered conversations are never suggested, the question itself neither.
    assert question.pk not in [s.conversation_id for s in found]


def test_canned_answers_are_ranked_by_the_conversation_text(coordinator, team_a, team_b):
    rent = CannedAnswer.objects.create(
        title="Huurverhoging", body="Uw huur stijgt volgens de wettelijke regels, {{contact_name}}."
    )
    leak = CannedAnswer.objects.create(
        title="Lekkage melden",
        body="Meld een lekkage in badkamer of keuken; we sturen een loodgieter.",
        department=team_a,
    )
    CannedAnswer.objects.create(
        title="Lekkage (team B)", body="Lekkage in de badkamer? Bel ons.", department=team_b
    )
    question = asking("Er is lekkage in mijn badkamer", department=team_a)
    services.update_similar()
    assert CannedVector.objects.count() == 3

    got = selectors.suggestions_for(coordinator, question).canned
    assert [c.match.answer for c in got][:2] == [leak, rent] or got[0].match.answer == leak
    # Another team's canned answer is not offered, and variables are filled in.
    assert "Lekkage (team B)" not in [c.match.answer.title for c in got]
    filled = [c.match.text for c in got if c.match.answer == rent]
    assert not filled or "{{" not in filled[0]


def _ingest(channel, now):
    ingest_messages(
        channel=channel,
        messages=[
            IncomingMessage(
                external_id="q1",
                text="Mijn cv-ketel is kapot, geen warm water meer",
                created_at=now,
                author_id="u1",
                author_handle="huurder",
            ),
            IncomingMessage(
                external_id="a1",
                text="We sturen morgen een monteur voor de cv-ketel.",
                created_at=now + timedelta(minutes=5),
                author_id="us",
                parent_external_id="q1",
                is_own=True,
            ),
        ],
    )


def test_ingest_queues_the_worker_which_embeds_and_indexes_incrementally(
    coordinator, channel, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _ingest(channel, timezone.now())
    first = ConversationVector.objects.get()
    assert first.answered
    assert vectors.index_path().exists()
    before = first.updated_at

    # A new answered conversation is added to the index; the first, whose customer text did not
    # change (a second reply came), is not embedded again.
    later = answered("De lift is al een week stuk", "De monteur komt vandaag voor de lift.")
    MessageFactory(
        conversation=first.conversation, text="Is het gelukt?", direction=Direction.OUTBOUND
    )
    services.update_similar()
    first.refresh_from_db()
    assert first.updated_at == before
    query = vectors.encode([vectors.customer_text(["lift kapot"])])[0]
    assert later.pk in [key for key, _score in vectors.search(query, 5) or []]
    # Nothing new: nothing read.
    assert services.update_similar() == 0
    # The customer writes again: the conversation's vector is replaced, in the index too.
    MessageFactory(conversation=later, text="En nu is ook de verwarming uitgevallen.")
    services.update_similar()
    index, _built = vectors.load(vectors.index_path())
    assert index.ntotal == 2


def test_staff_of_team_a_never_sees_team_b_conversations(
    client, staff_a, coordinator, team_a, team_b
):
    theirs = answered(*PAST[0], department=team_b)
    ours = answered(
        "Lekkage in de keuken: de kraan onder het aanrecht druppelt.",
        "We maken een afspraak met de loodgieter. ^AB",
        department=team_a,
    )
    question = asking("Lekkage in de badkamer, water door het plafond", department=team_a)
    services.update_similar()

    seen = selectors.similar_conversations(
        staff_a, question.pk, selectors.query_vector(question.pk)
    )
    assert theirs.pk not in [s.conversation_id for s in seen]
    client.force_login(staff_a)
    page = client.get(reverse("assist:suggestions", args=[question.pk]))
    assert page.status_code == 200
    assert f"#{theirs.pk}" not in page.content.decode()
    assert f"#{ours.pk}" in page.content.decode()
    # A coordinator sees every team's, the leak first.
    client.force_login(coordinator)
    page = client.get(reverse("assist:suggestions", args=[question.pk]))
    text = page.content.decode()
    assert f"#{theirs.pk}" in text and text.index(f"#{theirs.pk}") < text.index(f"#{ours.pk}")
    assert "similar to this one" in text and 'class="suggestion-insert"' in text


def test_the_panel_says_when_the_worker_has_not_read_the_conversation(client, staff_a, team_a):
    question = asking("Lekkage badkamer", department=team_a)
    client.force_login(staff_a)
    page = client.get(reverse("assist:suggestions", args=[question.pk]))
    assert page.status_code == 200
    assert "has not been read for suggestions yet" in page.content.decode()


def test_the_conversation_page_loads_the_panel_lazily(client, staff_a, team_a):
    question = asking("Lekkage badkamer", department=team_a)
    client.force_login(staff_a)
    page = client.get(reverse("inbox:team_conversation", args=[question.pk])).content.decode()
    assert f'hx-get="{reverse("assist:suggestions", args=[question.pk])}"' in page
    assert 'hx-trigger="revealed"' in page


def test_without_an_index_file_the_stored_vectors_are_scanned(coordinator, team_a, monkeypatch):
    leak, _rent, _parcel = past(team_a)
    question = asking("lekkage badkamer", department=team_a)
    services.update_similar()
    indexed = selectors.similar_conversations(
        coordinator, question.pk, selectors.query_vector(question.pk)
    )
    vectors.index_path().unlink()
    assert vectors.search(selectors.query_vector(question.pk), 5) is None
    scanned = selectors.similar_conversations(
        coordinator, question.pk, selectors.query_vector(question.pk)
    )
    assert [s.conversation_id for s in scanned] == [s.conversation_id for s in indexed]
    assert scanned[0].conversation_id == leak.pk

    # faiss missing altogether: the worker still stores vectors, the panel still answers.
    monkeypatch.setattr(vectors, "faiss_module", lambda: None)
    newer = answered("Weer lekkage in de badkamer, nu bij de douche", "Loodgieter komt. ^AB")
    services.update_similar()
    assert not vectors.index_path().exists()
    found = selectors.similar_conversations(
        coordinator, question.pk, selectors.query_vector(question.pk)
    )
    assert newer.pk in [s.conversation_id for s in found]


def test_a_rebuild_past_ivf_min_turns_the_index_into_an_ivf(team_a, settings, monkeypatch):
    monkeypatch.setattr(vectors, "IVF_MIN", 2)
    past(team_a)
    services.update_similar()
    index, built = vectors.load(vectors.index_path())
    assert built == 3 and index.ntotal == 3 and hasattr(index, "nprobe")


def test_an_erased_conversation_is_no_longer_suggested(coordinator, admin_user, team_a):
    from inbox.services.privacy import erase_contact

    leak, _rent, _parcel = past(team_a)
    question = asking("lekkage badkamer", department=team_a)
    services.update_similar()
    query = selectors.query_vector(question.pk)
    assert selectors.similar_conversations(coordinator, question.pk, query)[0].conversation_id == (
        leak.pk
    )
    erase_contact(contact=leak.contact, acting_user=admin_user)
    assert not ConversationVector.objects.filter(conversation_id=leak.pk).exists()
    shown = selectors.similar_conversations(coordinator, question.pk, query)
    assert leak.pk not in [s.conversation_id for s in shown]


def test_clean_drops_handles_links_and_signatures():
    assert vectors.clean("@Acme_Help Mijn ketel! https://t.co/x ^MK") == "Mijn ketel!"
    assert vectors.clean("Thanks @bob, DM us -JS") == "Thanks , DM us"
