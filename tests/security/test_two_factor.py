"""TOTP two-factor login: enrolment with a server-drawn QR code, then a code after the password."""

import binascii
import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _password_login(client, user):
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return response


def _code(hex_key: str, offset_steps: int = 0) -> str:
    totp = TOTP(binascii.unhexlify(hex_key))
    totp.time = totp.time + 30 * offset_steps
    return f"{totp.token():06d}"


def _enrol(client, user) -> str:
    response = client.get(reverse("two_factor_setup"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<svg" in body and "<path" in body  # the QR code, drawn on the server
    assert "<script" not in body.split("<main", 1)[1]
    hex_key = client.session["webcare_2fa_setup_key"]
    response = client.post(reverse("two_factor_setup"), {"token": _code(hex_key)})
    assert response.status_code == 302
    return hex_key


def test_a_manager_enrols_and_must_verify_at_the_next_login(client, manager):
    _password_login(client, manager)
    hex_key = _enrol(client, manager)
    device = TOTPDevice.objects.get(user=manager)
    assert device.confirmed and device.key == hex_key
    assert client.get(reverse("dashboards")).status_code == 200

    client.logout()
    _password_login(client, manager)
    response = client.get(reverse("dashboards"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_verify"))
    # A wrong code keeps the door shut.
    wrong = f"{(int(_code(hex_key)) + 1) % 1000000:06d}"
    response = client.post(reverse("two_factor_verify"), {"token": wrong})
    assert response.status_code == 200 and response.context["form"].errors
    assert client.get(reverse("dashboards")).status_code == 302
    # The right code, computed from the secret, opens it: a minute later (past the throttle
    # after a wrong code, and in a new 30 s window: a used code cannot be used twice).
    with time_machine.travel(timezone.now() + timedelta(seconds=60), tick=False):
        response = client.post(
            reverse("two_factor_verify"),
            {"token": _code(hex_key), "next": reverse("dashboards")},
        )
    assert response.status_code == 302 and response["Location"] == reverse("dashboards")
    assert client.get(reverse("dashboards")).status_code == 200


def test_a_wrong_code_does_not_enrol(client, admin_user):
    client.force_login(admin_user)
    client.get(reverse("two_factor_setup"))
    hex_key = client.session["webcare_2fa_setup_key"]
    response = client.post(reverse("two_factor_setup"), {"token": _code(hex_key, 10)})
    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=admin_user).exists()


def test_the_qr_code_carries_the_secret(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("two_factor_setup"))
    secret = re.search(r"<code>([A-Z2-7]+)</code>", response.content.decode()).group(1)
    hex_key = client.session["webcare_2fa_setup_key"]
    import base64

    assert base64.b32decode(secret + "=" * (-len(secret) % 8)).hex() == hex_key


def test_required_roles_must_enrol_before_anything_else(client, manager, staff_a, settings):
    settings.REQUIRE_2FA_ROLES = ["manager", "admin"]
    _password_login(client, manager)
    response = client.get(reverse("dashboards"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_setup"))
    _enrol(client, manager)
    assert client.get(reverse("dashboards")).status_code == 200
    # Other roles are not asked.
    client.logout()
    _password_login(client, staff_a)
    assert client.get(reverse("inbox:team")).status_code == 200


def test_htmx_requests_are_redirected_by_header(client, manager, settings):
    settings.REQUIRE_2FA_ROLES = ["manager"]
    _password_login(client, manager)
    response = client.get(reverse("dashboards"), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("two_factor_setup"))


def test_staff_cannot_open_the_enrolment_page(client, staff_a):
    client.force_login(staff_a)
    assert client.get(reverse("two_factor_setup")).status_code == 403
