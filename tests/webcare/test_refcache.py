"""webcare.refcache: teams, members and FAQ sets come from a per-process copy that a save
clears at once, a signal-less bulk update within the TTL, and permissions never."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from inbox.models import FaqSet
from inbox.selectors import team as team_selectors
from routing.models import Department, Membership
from tests.factories import ConversationFactory
from webcare import refcache
from webcare.accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def conv(team_a, channel):
    return ConversationFactory(channel=channel, department=team_a, status="triaged")


def test_a_saved_faq_set_shows_on_the_next_page(conv, staff_a, client):
    client.force_login(staff_a)
    url = f"/team/conversations/{conv.pk}/"
    assert "Huurverhoging 2027" not in client.get(url).content.decode()
    FaqSet.objects.create(department=conv.department, topic="Huurverhoging 2027")
    assert "Huurverhoging 2027" in client.get(url).content.decode()


def test_the_copy_saves_the_queries_and_a_bulk_update_shows_after_the_ttl(
    conv, staff_a, django_assert_num_queries
):
    FaqSet.objects.create(department=conv.department, topic="Storing")
    assert [f.topic for f in team_selectors.faq_sets_for(conv)] == ["Storing"]
    members = team_selectors.team_member_list(conv.department_id)
    with django_assert_num_queries(0):
        assert [f.topic for f in team_selectors.faq_sets_for(conv)] == ["Storing"]
        assert team_selectors.team_member_list(conv.department_id) == members
    # No signal: this process keeps its copy until the TTL has passed.
    FaqSet.objects.update(topic="Storing opgelost")
    assert [f.topic for f in team_selectors.faq_sets_for(conv)] == ["Storing"]
    later = timezone.now() + timedelta(seconds=refcache.TTL_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert [f.topic for f in team_selectors.faq_sets_for(conv)] == ["Storing opgelost"]


def test_members_follow_membership_saves(conv, staff_a):
    assert staff_a in team_selectors.team_member_list(conv.department_id)
    newcomer = User.objects.create_user("nieuw", role="staff")
    Membership.objects.create(user=newcomer, department=conv.department)
    assert newcomer in team_selectors.team_member_list(conv.department_id)
    newcomer.is_active = False
    newcomer.save()
    assert newcomer not in team_selectors.team_member_list(conv.department_id)


def test_team_membership_is_a_permission_and_never_comes_from_the_copy(staff_a, team_a, team_b):
    """The list of teams is copied; which of them a user belongs to is read per request."""
    assert team_selectors.teams_of(staff_a) == [team_a]
    # A bulk insert sends no signal, so the copy of all teams is not cleared...
    Membership.objects.bulk_create([Membership(user=staff_a, department=team_b)])
    staff_a = User.objects.get(pk=staff_a.pk)  # a new request: no per-request memo
    # ...and still the new team shows, because membership itself is not cached.
    assert set(team_selectors.teams_of(staff_a)) == {team_a, team_b}
    renamed = Department.objects.get(pk=team_b.pk)
    renamed.name = "Zzz laatste"
    renamed.save()
    assert [t.name for t in team_selectors.teams_of(staff_a)][-1] == "Zzz laatste"


def test_panel_options_come_from_the_copy_and_a_stale_one_is_refused(
    coordinator, team_a, staff_a, conversation, client, django_assert_max_num_queries
):
    """The triage panel's selects (teams, people, reasons, house rules) show the copy; a bound
    form still validates against the database, so a choice gone stale is refused."""
    from inbox.forms import AssignForm, NoReplyForm
    from inbox.models import NoReplyReason

    client.force_login(coordinator)
    url = f"/conversations/{conversation.pk}/"
    client.get(url, HTTP_HX_REQUEST="true")  # fills the copy
    # 7: the sixth of before, and the conversation's labels (their choices come from the copy).
    with django_assert_max_num_queries(7) as captured:
        page = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert not any("DECLARE" in q["sql"] for q in captured.captured_queries)
    assert f'<option value="{team_a.pk}">{team_a.name}</option>' in page.replace("&amp;", "&")
    assert f'<option value="{staff_a.pk}">Anna de Vries</option>' in page

    # A save clears the copy at once: a new reason shows on the next panel.
    NoReplyReason.objects.create(label="Politieke uitspraak")
    assert "Politieke uitspraak" in client.get(url, HTTP_HX_REQUEST="true").content.decode()

    # Signal-less deactivation: the copy still offers the user, the bound form refuses them.
    User.objects.filter(pk=staff_a.pk).update(is_active=False)
    assert (staff_a.pk, "Anna de Vries") in AssignForm(initial={"version": 1}).fields[
        "assignee"
    ].choices
    form = AssignForm({"version": 1, "assignee": staff_a.pk})
    assert not form.is_valid() and "assignee" in form.errors
    reason = NoReplyReason.objects.get(label="Politieke uitspraak")
    NoReplyReason.objects.filter(pk=reason.pk).update(active=False)
    assert not NoReplyForm({"version": 1, "reason": reason.pk}).is_valid()
