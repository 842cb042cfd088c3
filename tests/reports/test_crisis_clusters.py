"""Crisis clusters (issue 17, item 4): 500 near-identical comments answered or hidden in one
action, threats kept out and flagged, items taken out honoured, coordinators only, and a
clustering run whose number of queries does not grow with the number of mentions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inbox.channels.base import IncomingMessage
from inbox.models import (
    Conversation,
    ConversationEvent,
    Flag,
    HouseRule,
    Reply,
    ReplyState,
    SpikeAlert,
    Status,
)
from inbox.services.ingest import ingest_messages
from inbox.services.refusals import ActionRefused
from reports.crisis import actions
from reports.crisis.clustering import cluster_batch
from reports.models import ClusterKind, CrisisCluster, CrisisClusterAction

BASE = "Schande @woonstad, jullie laten huurders al weken zonder verwarming zitten"
VARIANTS = [
    "{base}!",
    "{base}!!! https://t.co/abc{i}",
    "{base} 😡😡",
    "@woonstad {base}. Bah.",
    "{base}, echt schandalig",
]
THREAT = BASE + ". Ik maak je dood"
UNRELATED = [
    "Wanneer komt de monteur voor mijn lekkage in de badkamer?",
    "Dank jullie wel voor de snelle hulp gisteren!",
    "Is het kantoor open op tweede paasdag?",
]


def _wave(n: int, *, threats: int = 0, unrelated: int = 0, prefix: str = "m") -> list:
    at = timezone.now() - timedelta(minutes=10)
    texts = [VARIANTS[i % len(VARIANTS)].format(base=BASE, i=i) for i in range(n)]
    texts += [THREAT] * threats
    texts += [f"{UNRELATED[i % len(UNRELATED)]} ({i})" for i in range(unrelated)]
    return [
        IncomingMessage(
            external_id=f"{prefix}{i}",
            text=text,
            created_at=at + timedelta(milliseconds=i),
            author_id=f"{prefix}-author-{i}",
            author_handle=f"{prefix}huurder{i}",
        )
        for i, text in enumerate(texts)
    ]


@pytest.fixture
def crisis(db, channel):
    """500 near-identical comments, 5 threats among them and 20 unrelated mentions, clustered."""
    ingest_messages(channel=channel, messages=_wave(500, threats=5, unrelated=20))
    cluster_batch(now=timezone.now())
    return CrisisCluster.objects.order_by("-size").first()


def _cluster_conversations(cluster, *, threats: bool) -> list[int]:
    ids = cluster.members.values_list("conversation_id", flat=True)
    flagged = Conversation.objects.filter(pk__in=list(ids)).values_list("pk", "flags")
    return sorted(pk for pk, flags in flagged if bool(flags & Flag.THREAT) == threats)


def test_500_near_identical_comments_form_one_cluster_with_the_threats_apart(crisis):
    assert crisis.kind == ClusterKind.NEAR_DUPLICATE
    assert crisis.size == 505
    threats = _cluster_conversations(crisis, threats=True)
    assert len(threats) == 5  # flagged by enrichment, in the cluster, never in its action
    preview = actions.preview(crisis)
    assert (preview.covered, preview.threats, preview.taken_out) == (500, 5, 0)
    # The unrelated mentions are not in it (their own, smaller clusters).
    others = CrisisCluster.objects.exclude(pk=crisis.pk)
    assert others.count() >= 3 and not others.filter(sample__icontains="verwarming").exists()
    scores = set(crisis.members.values_list("score", flat=True))
    assert 100 in scores and min(scores) >= 85


def test_one_action_answers_all_500_exactly_once_and_leaves_the_threats(
    crisis, coordinator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        record = actions.start_action(
            cluster=crisis,
            action="answer",
            acting_user=coordinator,
            revision=crisis.revision,
            text="Wij begrijpen uw boosheid. Een monteur komt deze week langs.",
        )
    assert len(queued) == 1  # the request queues one task, not 500
    assert record.threats_kept_out == 5 and len(record.items) == 500
    with django_capture_on_commit_callbacks() as sends:
        assert actions.run_action(record.pk) is not None
    replies = Reply.objects.filter(conversation__in=_cluster_conversations(crisis, threats=False))
    assert replies.count() == 500
    assert replies.filter(state=ReplyState.APPROVED).count() == 500
    assert len(set(replies.values_list("conversation_id", flat=True))) == 500
    assert len(sends) == 500  # one outbox task per reply
    events = ConversationEvent.objects.filter(kind="reply_queued", actor=coordinator)
    assert events.count() == 500
    assert all(e["cluster_action"] == record.pk for e in events.values_list("data", flat=True))
    record.refresh_from_db()
    assert (record.state, record.done, record.skipped) == ("done", 500, 0)
    threats = _cluster_conversations(crisis, threats=True)
    assert not Reply.objects.filter(conversation__in=threats).exists()
    assert Conversation.objects.filter(pk__in=threats, status=Status.NEW).count() == 5

    # A second delivery of the task, and a second confirmed action: nothing is answered twice.
    assert actions.run_action(record.pk) is None
    crisis.refresh_from_db()
    again = actions.start_action(
        cluster=crisis,
        action="answer",
        acting_user=coordinator,
        revision=crisis.revision,
        text="Nog een keer",
    )
    actions.run_action(again.pk)
    again.refresh_from_db()
    assert (again.done, again.skipped) == (0, 500)
    assert Reply.objects.count() == 500


def test_hide_all_under_a_house_rule_leaves_threats_and_taken_out_items(crisis, coordinator):
    rule = HouseRule.objects.create(title="Geen scheldwoorden", text="We verbergen schelden.")
    members = list(actions.actionable(crisis)[:3])
    assert (
        actions.take_out(
            cluster=crisis, member_ids=[m.pk for m in members], acting_user=coordinator
        )
        == 3
    )
    kept = [m.conversation_id for m in members]
    with pytest.raises(ActionRefused):  # the confirmation saw the cluster before the change
        actions.start_action(
            cluster=crisis,
            action="hide",
            acting_user=coordinator,
            revision=crisis.revision,
            rule=rule,
        )
    crisis.refresh_from_db()
    record = actions.start_action(
        cluster=crisis, action="hide", acting_user=coordinator, revision=crisis.revision, rule=rule
    )
    assert (record.taken_out, record.threats_kept_out, len(record.items)) == (3, 5, 497)
    actions.run_action(record.pk)
    assert Conversation.objects.filter(status=Status.HIDDEN).count() == 497
    assert ConversationEvent.objects.filter(kind="hidden", actor=coordinator).count() == 497
    assert Conversation.objects.filter(pk__in=kept, status=Status.NEW).count() == 3
    threats = _cluster_conversations(crisis, threats=True)
    assert Conversation.objects.filter(pk__in=threats, status=Status.NEW).count() == 5


@pytest.mark.parametrize("action", ["answer", "hide"])
def test_a_threat_flagged_after_confirming_is_still_left_out(crisis, coordinator, action):
    from inbox.services.triage import flag_conversation

    rule = HouseRule.objects.create(title="Geen scheldwoorden", text="We verbergen schelden.")
    record = actions.start_action(
        cluster=crisis,
        action=action,
        acting_user=coordinator,
        revision=crisis.revision,
        text="Sorry",
        rule=rule,
    )
    late, quiet = Conversation.objects.filter(pk__in=[int(pk) for pk in record.items])[:2]
    flag_conversation(
        conversation=late, flag=Flag.THREAT, acting_user=coordinator, version=late.version
    )
    # Whatever sets the flag without moving the version on: the threat is still left out.
    Conversation.objects.filter(pk=quiet.pk).update(flags=F("flags").bitor(int(Flag.THREAT)))
    actions.run_action(record.pk)
    for conversation in (late, quiet):
        conversation.refresh_from_db()
        assert conversation.status == Status.NEW
        assert not Reply.objects.filter(conversation=conversation).exists()
    record.refresh_from_db()
    assert (record.done, record.skipped) == (498, 2)


def test_only_coordinators_act(crisis, manager, staff_a, client):
    for user in (manager, staff_a):
        with pytest.raises(PermissionDenied):
            actions.start_action(
                cluster=crisis,
                action="answer",
                acting_user=user,
                revision=crisis.revision,
                text="Hoi",
            )
        with pytest.raises(PermissionDenied):
            actions.take_out(cluster=crisis, member_ids=[1], acting_user=user)
    client.force_login(manager)
    url = reverse("reports:crisis_cluster_act", args=[crisis.pk])
    response = client.post(
        url, {"action": "answer", "revision": crisis.revision, "text": "Hoi", "confirmed": "on"}
    )
    assert response.status_code == 403
    assert not CrisisClusterAction.objects.exists()
    page = client.get(reverse("reports:crisis_cluster", args=[crisis.pk]))
    assert page.status_code == 200 and b"Answer all" not in page.content


def test_the_pages_confirm_before_acting(crisis, coordinator, client):
    client.force_login(coordinator)
    listing = client.get(reverse("reports:crisis_clusters"))
    assert b"505 mentions" in listing.content and b"5 threats kept out" in listing.content
    detail = client.get(reverse("reports:crisis_cluster", args=[crisis.pk]))
    assert b"Near-identical text" in detail.content and b"Threats, kept apart" in detail.content
    url = reverse("reports:crisis_cluster_act", args=[crisis.pk])
    data = {"action": "answer", "revision": crisis.revision, "text": "Wij komen langs."}
    confirm = client.post(url, data)
    assert confirm.status_code == 200 and b"each of 500 conversations" in confirm.content
    assert not CrisisClusterAction.objects.exists()  # nothing happens without the confirmation
    empty = client.post(url, {"action": "answer", "revision": crisis.revision, "text": ""})
    assert empty.status_code == 400 and b"Write the reply first" in empty.content
    done = client.post(url, {**data, "confirmed": "on"})
    record = CrisisClusterAction.objects.get()
    assert done.status_code == 302 and done["Location"].endswith(f"/actions/{record.pk}/")
    progress = client.get(done["Location"])
    assert b"500 conversations in this action" in progress.content
    take = client.post(
        reverse("reports:crisis_take_out", args=[crisis.pk]), {"member": ["x"], "out": "1"}
    )
    assert take.status_code == 400  # bad input: a clear error, nothing changed


def test_same_topic_grouping_by_the_spike_keyword(db, channel):
    SpikeAlert.objects.create(
        channel=channel,
        keyword="verwarming",
        window_start=timezone.now() - timedelta(minutes=15),
        count=300,
        baseline=4,
    )
    texts = [
        "Mijn verwarming doet het al drie dagen niet",
        "Wie anders heeft ook geen verwarming in Noord?",
        "De verwarming is kapot en niemand neemt op",
        "Leuk weer vandaag",
    ]
    at = timezone.now() - timedelta(minutes=5)
    ingest_messages(
        channel=channel,
        messages=[
            IncomingMessage(external_id=f"t{i}", text=t, created_at=at, author_id=f"t{i}")
            for i, t in enumerate(texts)
        ],
    )
    cluster_batch(now=timezone.now())
    topic = CrisisCluster.objects.get(kind=ClusterKind.TOPIC)
    assert (topic.keyword, topic.size) == ("verwarming", 3)


def _queries_for(channel, n: int, prefix: str) -> tuple[int, int]:
    """(statements other than INSERT, INSERT statements) of one clustering run."""
    ingest_messages(channel=channel, messages=_wave(n, unrelated=n // 2, prefix=prefix))
    with CaptureQueriesContext(connection) as queries:
        cluster_batch(now=timezone.now())
    inserts = sum(q["sql"].startswith("INSERT") for q in queries.captured_queries)
    return len(queries) - inserts, inserts


def test_a_clustering_run_costs_the_same_queries_for_20_or_400_mentions(db, channel):
    _queries_for(channel, 5, "warm")  # the watermark exists from here on
    small = _queries_for(channel, 20, "a")
    large = _queries_for(channel, 400, "b")
    assert small[0] == large[0]
    if connection.vendor == "postgresql":  # new clusters, new members: two inserts at most
        assert small[1] <= 2 and large[1] <= 2
    else:  # SQLite caps the parameters of one statement: a bulk insert goes in chunks of ~200
        assert large[1] <= small[1] + 600 // 150
    assert CrisisCluster.objects.get(size=425).kind == ClusterKind.NEAR_DUPLICATE
