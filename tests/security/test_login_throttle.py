"""django-axes: a username is locked out on an address after AXES_FAILURE_LIMIT failures."""

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _login(client, username, password, ip="203.0.113.7"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_it_locks_out_after_the_limit_with_a_clear_message(client, staff_a, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        response = _login(client, staff_a.username, "wrong")
        assert response.status_code == 200  # the form again, with its error
        assert response.context["form"].errors
    response = _login(client, staff_a.username, "wrong")
    assert response.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    # Even the right password is refused now.
    response = _login(client, staff_a.username, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.filter(username=staff_a.username).exists()


def test_the_lockout_is_per_user_and_address(client, staff_a, staff_b, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        _login(client, staff_a.username, "wrong")
    assert _login(client, staff_a.username, PASSWORD).status_code == 429
    # Another user from the same address, and the same user from elsewhere, still get in.
    assert _login(client, staff_b.username, PASSWORD).status_code == 302
    client.logout()
    assert _login(client, staff_a.username, PASSWORD, ip="198.51.100.1").status_code == 302


def test_a_success_resets_the_count(client, staff_a, settings):
    settings.AXES_FAILURE_LIMIT = 3
    _login(client, staff_a.username, "wrong")
    _login(client, staff_a.username, "wrong")
    assert _login(client, staff_a.username, PASSWORD).status_code == 302
    client.logout()
    _login(client, staff_a.username, "wrong")
    _login(client, staff_a.username, "wrong")
    assert _login(client, staff_a.username, PASSWORD).status_code == 302


def test_the_lockout_page_renders_in_both_languages(client, staff_a, settings):
    settings.AXES_FAILURE_LIMIT = 1
    _login(client, staff_a.username, "wrong")
    response = _login(client, staff_a.username, "wrong")
    assert response.status_code == 429
    assert b"password_reset" in response.content or b"/password-reset/" in response.content
