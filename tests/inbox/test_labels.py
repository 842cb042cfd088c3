"""Labels: the services (who, audit, conflicts, archived), bulk, the inbox and team queue filters,
routing rules that label, and the pages that show and change them."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from inbox.models import (
    OPEN_STATUSES,
    Conversation,
    ConversationEvent,
    ConversationLabel,
    Label,
)
from inbox.selectors import inbox as inbox_selectors
from inbox.selectors import team as team_selectors
from inbox.services import triage
from inbox.services.labels import create_label, set_labels, update_label
from inbox.services.refusals import ActionRefused, ConflictError
from routing.models import RoutingRule
from routing.rules.apply import apply_routing
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def klacht(admin_user):
    return create_label(name="Klacht", colour="red", acting_user=admin_user)


@pytest.fixture
def pers(admin_user):
    return create_label(
        name="Pers", colour="blue", description="Journalisten", acting_user=admin_user
    )


def labels_on(conv) -> set[str]:
    return set(
        ConversationLabel.objects.filter(conversation=conv).values_list("label__name", flat=True)
    )


# --- Services ------------------------------------------------------------------------------


def test_only_administrators_manage_labels_and_names_are_unique_in_any_case(
    admin_user, coordinator, klacht
):
    with pytest.raises(PermissionDenied):
        create_label(name="Spam", colour="grey", acting_user=coordinator)
    with pytest.raises(ActionRefused, match="already a label"):
        create_label(name="  KLACHT ", colour="grey", acting_user=admin_user)
    with pytest.raises(ActionRefused, match="colours"):
        create_label(name="Lof", colour="pink", acting_user=admin_user)
    renamed = update_label(label=klacht, acting_user=admin_user, name="Klacht  woning")
    assert renamed.name == "Klacht woning"
    archived = update_label(label=klacht, acting_user=admin_user, is_active=False)
    assert Label.objects.get(pk=archived.pk).is_active is False
    with pytest.raises(PermissionDenied):
        update_label(label=klacht, acting_user=coordinator, is_active=True)


def test_set_labels_audits_each_change_and_bumps_the_version(coordinator, klacht, pers):
    conv = ConversationFactory()
    set_labels(conversation=conv, add=[klacht, pers], remove=[], acting_user=coordinator, version=1)
    assert labels_on(conv) == {"Klacht", "Pers"}
    assert conv.version == 2 and Conversation.objects.get(pk=conv.pk).version == 2
    link = ConversationLabel.objects.get(conversation=conv, label=klacht)
    assert link.applied_by == coordinator and link.rule is None
    assert link.received_at == conv.received_at

    set_labels(conversation=conv, add=[], remove=[pers], acting_user=coordinator, version=2)
    events = list(ConversationEvent.objects.filter(conversation=conv).order_by("id"))
    assert [(e.kind, e.data["labels"], e.actor) for e in events] == [
        ("labelled", ["Klacht", "Pers"], coordinator),
        ("unlabelled", ["Pers"], coordinator),
    ]
    # Nothing to change: nothing written, the version stays.
    set_labels(conversation=conv, add=[klacht], remove=[pers], acting_user=coordinator, version=3)
    assert ConversationEvent.objects.filter(conversation=conv).count() == 2
    assert Conversation.objects.get(pk=conv.pk).version == 3


def test_a_stale_version_is_a_conflict_and_changes_nothing(coordinator, staff_a, team_a, klacht):
    conv = ConversationFactory(department=team_a, status="triaged")
    triage.set_priority(conversation=conv, priority=2, acting_user=coordinator, version=1)
    with pytest.raises(ConflictError, match="Cora"):
        set_labels(conversation=conv, add=[klacht], remove=[], acting_user=staff_a, version=1)
    assert labels_on(conv) == set()


def test_who_may_label(coordinator, staff_a, staff_b, manager, team_a, klacht):
    conv = ConversationFactory(department=team_a, status="triaged")
    set_labels(conversation=conv, add=[klacht], remove=[], acting_user=staff_a)
    for outsider in (staff_b, manager):
        with pytest.raises(PermissionDenied):
            set_labels(conversation=conv, add=[], remove=[klacht], acting_user=outsider)
    shared = ConversationFactory()  # not with a team: only coordinators
    with pytest.raises(PermissionDenied):
        set_labels(conversation=shared, add=[klacht], remove=[], acting_user=staff_a)
    set_labels(conversation=shared, add=[klacht], remove=[], acting_user=coordinator)
    assert labels_on(conv) == labels_on(shared) == {"Klacht"}


def test_an_archived_label_cannot_be_added_but_can_be_removed(admin_user, coordinator, klacht):
    conv = ConversationFactory()
    set_labels(conversation=conv, add=[klacht], remove=[], acting_user=coordinator)
    update_label(label=klacht, acting_user=admin_user, is_active=False)
    other = ConversationFactory()
    with pytest.raises(ActionRefused, match="Archived"):
        set_labels(conversation=other, add=[klacht], remove=[], acting_user=coordinator)
    assert not ConversationEvent.objects.filter(conversation=other).exists()
    set_labels(conversation=conv, add=[], remove=[klacht], acting_user=coordinator)
    assert labels_on(conv) == set()


# --- Bulk ----------------------------------------------------------------------------------


def test_bulk_label_and_unlabel_skip_what_a_colleague_changed(coordinator, klacht, channel):
    a, b, c = (ConversationFactory(channel=channel) for _ in range(3))
    set_labels(conversation=a, add=[klacht], remove=[], acting_user=coordinator)  # a: version 2
    result = triage.bulk_triage(
        action="label", items={a.pk: 2, b.pk: 1, c.pk: 7}, acting_user=coordinator, label=klacht
    )
    assert (result.done, result.skipped) == ([a.pk, b.pk], [c.pk])
    assert [labels_on(x) for x in (a, b, c)] == [{"Klacht"}, {"Klacht"}, set()]
    # a had it already: no second event, no new version.
    assert ConversationEvent.objects.filter(conversation=a, kind="labelled").count() == 1
    assert Conversation.objects.get(pk=b.pk).version == 2

    result = triage.bulk_triage(
        action="unlabel", items={a.pk: 2, b.pk: 2}, acting_user=coordinator, label=klacht
    )
    assert result.done == [a.pk, b.pk] and labels_on(a) == labels_on(b) == set()
    assert ConversationEvent.objects.filter(kind="unlabelled").count() == 2


def test_bulk_label_via_the_bulk_bar(client, coordinator, admin_user, klacht, channel):
    a, b = ConversationFactory(channel=channel), ConversationFactory(channel=channel)
    client.force_login(coordinator)
    response = client.post(
        reverse("inbox:bulk"),
        {"action": "label", "label": klacht.pk, "selected": [f"{a.pk}:1", f"{b.pk}:1"]},
        **HX,
    )
    assert response.status_code == 200
    assert labels_on(a) == labels_on(b) == {"Klacht"}
    # The re-rendered rows carry the chip.
    assert response.content.decode().count('class="label-chip label-red"') == 2
    update_label(label=klacht, acting_user=admin_user, is_active=False)
    refused = client.post(
        reverse("inbox:bulk"),
        {"action": "label", "label": klacht.pk, "selected": [f"{ConversationFactory().pk}:1"]},
        **HX,
    )
    assert refused.status_code == 400 and "Archived" in refused.content.decode()


# --- Filters -------------------------------------------------------------------------------


def test_the_inbox_and_the_team_queue_filter_by_label(
    client, coordinator, staff_a, team_a, klacht, pers, channel
):
    now = timezone.now()
    shared = [
        ConversationFactory(channel=channel, received_at=now - timedelta(minutes=i))
        for i in range(4)
    ]
    team = [
        ConversationFactory(
            channel=channel,
            department=team_a,
            status="triaged",
            received_at=now - timedelta(hours=i),
        )
        for i in range(3)
    ]
    for conv in (shared[1], shared[3], team[2]):
        set_labels(conversation=conv, add=[klacht], remove=[], acting_user=coordinator)
    set_labels(conversation=shared[0], add=[pers], remove=[], acting_user=coordinator)

    qs, _shared = inbox_selectors.inbox_queryset(coordinator, {"label": klacht.pk})
    page, _next = inbox_selectors.keyset_page(qs, before=None, size=1)
    assert [c.pk for c in page] == [shared[1].pk]
    page, _next = inbox_selectors.keyset_page(qs, before=_next)
    assert [c.pk for c in page] == [shared[3].pk]

    rows, _key = team_selectors.team_queue_page(staff_a, label=klacht.pk)
    assert [r.pk for r in rows] == [team[2].pk]
    assert len(team_selectors.team_queue_page(staff_a)[0]) == 3

    client.force_login(coordinator)
    body = client.get(reverse("inbox:inbox"), {"label": klacht.pk}).content.decode()
    assert body.count("data-row ") == 2
    assert f'<option value="{klacht.pk}" selected>Klacht</option>' in body
    client.force_login(staff_a)
    body = client.get(reverse("inbox:team"), {"label": klacht.pk}).content.decode()
    assert body.count('class="conv-row') == 1 and "label-chip label-red" in body


@pytest.mark.postgres  # reads PostgreSQL's plan
def test_the_label_filter_keeps_the_inbox_page_index_driven(coordinator, klacht, channel):
    """Most of the shared queue is unlabelled, as in production: the filtered first page still
    comes from an index (no sequential scan of the conversations, no sort of all of them)."""
    from inbox.models import Contact

    contact = Contact.objects.create(channel=channel, external_id="c", handle="huurder")
    now = timezone.now()
    Conversation.objects.bulk_create(
        Conversation(
            channel=channel,
            contact=contact,
            thread_key=f"t-{i}",
            snippet="Lekkage",
            received_at=now - timedelta(minutes=i),
            last_message_at=now,
        )
        for i in range(20000)
    )
    ids = list(Conversation.objects.order_by("id").values_list("id", "received_at")[::40])
    ConversationLabel.objects.bulk_create(
        ConversationLabel(conversation_id=pk, label=klacht, received_at=at) for pk, at in ids
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_conversation")
        cursor.execute("ANALYZE inbox_conversationlabel")
    qs, _shared = inbox_selectors.inbox_queryset(coordinator, {"label": klacht.pk})
    page = qs.order_by("-received_at", "-id").values("id")[:51]
    plan = page.explain()
    assert "Seq Scan on inbox_conversation " not in plan + " ", plan
    assert "conv_open_inbox_idx" in plan or "convlabel_label_idx" in plan, plan
    assert len(page) == 51


@pytest.mark.postgres  # reads PostgreSQL's plan
def test_the_label_filter_keeps_the_team_queue_on_its_index(staff_a, team_a, klacht, channel):
    from inbox.models import Contact

    contact = Contact.objects.create(channel=channel, external_id="c", handle="huurder")
    now = timezone.now()
    Conversation.objects.bulk_create(
        Conversation(
            channel=channel,
            contact=contact,
            thread_key=f"t-{i}",
            snippet="Lekkage",
            received_at=now - timedelta(minutes=i),
            last_message_at=now,
            sla_due_at=now + timedelta(minutes=i % 90),
            status="new" if i % 10 else "triaged",
            department=None if i % 10 else team_a,
        )
        for i in range(20000)
    )
    ids = Conversation.objects.filter(department=team_a).values_list("id", "received_at")
    ConversationLabel.objects.bulk_create(
        ConversationLabel(conversation_id=pk, label=klacht, received_at=at) for pk, at in ids[::3]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_conversation")
        cursor.execute("ANALYZE inbox_conversationlabel")
    rows, _key = team_selectors.team_queue_page(staff_a, label=klacht.pk)
    assert len(rows) == team_selectors.PAGE_SIZE
    qs = team_selectors.label_filter(
        team_selectors.team_conversations(staff_a).filter(status__in=OPEN_STATUSES), klacht.pk
    )
    plan = qs.order_by("sla_due_at", "received_at", "id").values("id")[:51].explain()
    assert "Seq Scan on inbox_conversation " not in plan + " ", plan


# --- Routing rules -------------------------------------------------------------------------


def test_rules_apply_labels_and_say_which_rule_did(client, coordinator, team_a, klacht, pers):
    RoutingRule.objects.create(order=1, name="Klachten", keywords=["klacht"], label=klacht)
    RoutingRule.objects.create(order=2, name="Lekkages", keywords=["lekkage"], department=team_a)
    press = RoutingRule.objects.create(order=3, name="Pers", flags_any=64, label=pers)
    both = ConversationFactory(snippet="Klacht: de lekkage is er nog steeds")
    press_item = ConversationFactory(snippet="Vraag van de krant", flags=64)
    plain = ConversationFactory(snippet="Dank voor de hulp")

    apply_routing(conversation_ids=[both.pk, press_item.pk, plain.pk])

    # The label-only rule did not stop the team rule below it.
    both.refresh_from_db()
    assert both.suggested_department == team_a
    assert labels_on(both) == {"Klacht"} and labels_on(press_item) == {"Pers"}
    assert labels_on(plain) == set()
    link = ConversationLabel.objects.get(conversation=press_item)
    assert link.rule == press and link.applied_by is None
    event = ConversationEvent.objects.get(conversation=press_item, kind="labelled")
    assert event.actor is None and event.data["rule"] == "Pers" and event.data["labels"] == ["Pers"]

    client.force_login(coordinator)
    panel = client.get(reverse("inbox:conversation", args=[press_item.pk]), **HX).content.decode()
    assert "applied by rule “Pers”" in panel
    inbox = client.get(reverse("inbox:inbox")).content.decode()
    assert 'title="Applied by rule “Klachten”"' in inbox


def test_an_archived_label_is_not_applied_by_its_rule(admin_user, klacht):
    RoutingRule.objects.create(name="Klachten", keywords=["klacht"], label=klacht)
    update_label(label=klacht, acting_user=admin_user, is_active=False)
    conv = ConversationFactory(snippet="Klacht")
    apply_routing(conversation_ids=[conv.pk])
    assert labels_on(conv) == set()


def test_the_rule_form_offers_a_label_as_its_action(client, coordinator, klacht):
    client.force_login(coordinator)
    response = client.post(
        reverse("routing:rules"),
        {"name": "Klachten", "active": "on", "keywords_text": "klacht", "label": klacht.pk},
    )
    assert response.status_code == 302
    assert RoutingRule.objects.get(name="Klachten").label == klacht
    page = client.get(reverse("routing:rules")).content.decode()
    assert 'class="label-chip label-red">Klacht</span>' in page


# --- Pages ---------------------------------------------------------------------------------


def test_the_panel_form_sets_labels_and_rerenders_the_row(client, coordinator, klacht, pers):
    conv = ConversationFactory()
    client.force_login(coordinator)
    url = reverse("inbox:conversation_labels", args=[conv.pk])
    response = client.post(url, {"version": 1, "labels": [klacht.pk, pers.pk]}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and labels_on(conv) == {"Klacht", "Pers"}
    assert 'id="action-labels"' in body  # the panel, with its new version
    assert 'name="version" value="2"' in body
    assert f'id="conversation-{conv.pk}"' in body and "label-chip label-blue" in body
    # A stale form is refused with the colleague's name; nothing changes.
    stale = client.post(url, {"version": 1, "labels": []}, **HX)
    assert stale.status_code == 409 and labels_on(conv) == {"Klacht", "Pers"}
    # Without JavaScript: a redirect back, to the page it came from when that is ours.
    plain = client.post(url, {"version": 2, "labels": [pers.pk], "next": "/team/"})
    assert plain.status_code == 302 and plain["Location"] == "/team/"
    assert labels_on(conv) == {"Pers"}
    away = client.post(url, {"version": 3, "labels": [], "next": "https://evil.example/"})
    assert away["Location"] == conv.get_absolute_url()


def test_team_staff_label_from_the_team_page_and_outsiders_are_refused(
    client, staff_a, staff_b, team_a, klacht
):
    conv = ConversationFactory(department=team_a, status="triaged")
    client.force_login(staff_a)
    page = client.get(reverse("inbox:team_conversation", args=[conv.pk])).content.decode()
    assert f'value="{klacht.pk}"' in page and 'name="next"' in page
    response = client.post(
        reverse("inbox:conversation_labels", args=[conv.pk]),
        {"version": 1, "labels": [klacht.pk], "next": f"/team/conversations/{conv.pk}/"},
    )
    assert response.status_code == 302 and labels_on(conv) == {"Klacht"}
    client.force_login(staff_b)
    response = client.post(
        reverse("inbox:conversation_labels", args=[conv.pk]), {"version": 2, "labels": []}
    )
    assert response.status_code == 403 and labels_on(conv) == {"Klacht"}


def test_the_labels_settings_page(client, admin_user, coordinator, klacht):
    client.force_login(coordinator)
    assert client.get(reverse("inbox:labels")).status_code == 403
    client.force_login(admin_user)
    page = client.get(reverse("inbox:labels")).content.decode()
    assert "Klacht" in page
    response = client.post(
        reverse("inbox:labels"), {"name": "Lof", "colour": "green", "description": "Compliment"}
    )
    assert response.status_code == 302 and Label.objects.get(name="Lof").is_active
    # A duplicate name: the form again, with the message and what was typed.
    response = client.post(reverse("inbox:labels"), {"name": "lof", "colour": "blue"})
    assert response.status_code == 400
    assert 'value="lof"' in response.content.decode() and Label.objects.count() == 2
    # Archive: the box off.
    response = client.post(
        reverse("inbox:label_edit", args=[klacht.pk]),
        {"name": "Klacht", "colour": "red", "description": ""},
    )
    assert response.status_code == 302 and not Label.objects.get(pk=klacht.pk).is_active


def test_the_row_shows_new_labels_at_once(client, coordinator, klacht):
    """Rows are reused as rendered under a key of their values: the labels are among them."""
    conv = ConversationFactory()
    client.force_login(coordinator)
    assert "label-chip" not in client.get(reverse("inbox:inbox")).content.decode()
    set_labels(conversation=conv, add=[klacht], remove=[], acting_user=coordinator)
    assert "label-chip label-red" in client.get(reverse("inbox:inbox")).content.decode()
    ConversationLabel.objects.all().delete()  # even with the version unchanged
    assert "label-chip" not in client.get(reverse("inbox:inbox")).content.decode()


def test_open_statuses_only_in_the_team_queue_filter(staff_a, team_a, klacht, coordinator):
    closed = ConversationFactory(department=team_a, status="closed")
    set_labels(conversation=closed, add=[klacht], remove=[], acting_user=coordinator)
    assert closed.status not in OPEN_STATUSES
    assert team_selectors.team_queue_page(staff_a, label=klacht.pk)[0] == []


def test_a_merge_moves_the_labels_arrival_time_with_the_conversation(coordinator, klacht, channel):
    now = timezone.now()
    target = ConversationFactory(channel=channel, received_at=now)
    source = ConversationFactory(channel=channel, received_at=now - timedelta(days=2))
    set_labels(conversation=target, add=[klacht], remove=[], acting_user=coordinator)
    triage.merge_conversations(
        target=target, source=source, acting_user=coordinator, target_version=2, source_version=1
    )
    link = ConversationLabel.objects.get(conversation=target)
    assert link.received_at == source.received_at
