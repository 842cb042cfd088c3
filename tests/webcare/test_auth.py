import pytest
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_answers(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("inbox:inbox"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("persona", "landing"),
    [
        ("coordinator", "inbox:inbox"),
        ("staff_a", "inbox:team"),
        ("manager", "dashboards"),
        ("admin_user", "inbox:inbox"),
    ],
)
def test_each_role_lands_on_its_page(client, request, persona, landing):
    user = request.getfixturevalue(persona)
    assert client.login(username=user.username, password=PASSWORD)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse(landing)
    assert client.get(response["Location"]).status_code == 200


def test_staff_cannot_open_shared_inbox(client, staff_a):
    client.force_login(staff_a)
    assert client.get(reverse("inbox:inbox")).status_code == 403


def test_password_reset_sends_mail(client, staff_a, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": staff_a.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert "/password-reset/" in mailoutbox[0].body


def test_logout_requires_post(client, staff_a):
    client.force_login(staff_a)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
