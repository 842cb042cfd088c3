"""Channel health page and form: admins only; credentials are write-only and encrypted."""

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox.channels.credentials import decrypt_credentials
from inbox.models import Channel, ChannelStatus
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def test_it_lists_channel_health_for_admins(client, admin_user, django_assert_max_num_queries):
    ChannelFactory(
        name="X @woonstad",
        status=ChannelStatus.FAILING,
        last_error="ConnectorError: HTTP 503",
        consecutive_failures=2,
        ingest_day=timezone.localdate(),
        ingest_day_count=1234,
    )
    ChannelFactory(
        name="Old counter", ingest_day=timezone.localdate().replace(year=2020), ingest_day_count=99
    )
    client.force_login(admin_user)
    with django_assert_max_num_queries(6):
        response = client.get(reverse("inbox:channels"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "X @woonstad" in body
    assert "HTTP 503" in body
    assert "1234" in body
    assert ">99<" not in body  # yesterday's count is not today's


@pytest.mark.parametrize("persona", ["coordinator", "manager", "staff_a"])
def test_it_rejects_non_admins(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("inbox:channels")).status_code == 403
    assert client.get(reverse("inbox:channel_new")).status_code == 403


def test_it_rejects_the_wrong_method(client, admin_user):
    client.force_login(admin_user)
    assert client.post(reverse("inbox:channels")).status_code == 405


def form_data(**overrides):
    data = {
        "kind": "mastodon",
        "name": "Mastodon @gemeente",
        "own_handles_text": "@gemeente, gemeente_help",
        "keywords_text": "gemeente\nGemeente Utrecht",
        "poll_interval_seconds": "60",
        "enabled": "on",
        "config": '{"instance": "https://mastodon.example"}',
        "credentials": '{"access_token": "s3cret-token"}',
    }
    data.update(overrides)
    return data


def test_it_creates_a_channel_with_encrypted_credentials(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("inbox:channel_new"), form_data())
    assert response.status_code == 302
    channel = Channel.objects.get(name="Mastodon @gemeente")
    assert channel.own_handles == ["gemeente", "gemeente_help"]
    assert channel.keywords == ["gemeente", "Gemeente Utrecht"]
    assert channel.config == {"instance": "https://mastodon.example"}
    assert "s3cret-token" not in channel.credentials_encrypted
    assert decrypt_credentials(channel.credentials_encrypted) == {"access_token": "s3cret-token"}


def test_credentials_are_never_rendered_back_and_empty_keeps_them(client, admin_user):
    client.force_login(admin_user)
    client.post(reverse("inbox:channel_new"), form_data())
    channel = Channel.objects.get()
    Channel.objects.filter(pk=channel.pk).update(status=ChannelStatus.ERROR, consecutive_failures=4)

    page = client.get(reverse("inbox:channel_edit", args=[channel.pk])).content.decode()
    assert "s3cret-token" not in page
    assert channel.credentials_encrypted not in page
    assert 'type="password"' in page

    response = client.post(
        reverse("inbox:channel_edit", args=[channel.pk]), form_data(name="Renamed", credentials="")
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "Renamed"
    assert decrypt_credentials(channel.credentials_encrypted) == {"access_token": "s3cret-token"}
    # Saving is the admin's fix: the channel is polled again.
    assert channel.status == ChannelStatus.OK
    assert channel.consecutive_failures == 0


def test_bad_json_is_a_form_error_not_a_500(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("inbox:channel_new"), form_data(credentials="not json", config="[1]")
    )
    assert response.status_code == 200
    assert response.content.decode().count('role="alert"') >= 2
    assert not Channel.objects.exists()


def test_it_shows_messages_stored_with_a_step_skipped(client, admin_user):
    ChannelFactory(
        name="X @kapot",
        ingest_problem_count=7,
        last_ingest_problem="SLA policy “Kapot”: ValueError: calendar has no open business time",
        last_ingest_problem_at=timezone.now(),
    )
    client.force_login(admin_user)
    body = client.get(reverse("inbox:channels")).content.decode()
    assert "7 messages stored without an SLA clock, routing or enrichment" in body
    assert "calendar has no open business time" in body
