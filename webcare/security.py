"""Login hardening: throttling (django-axes) and two-factor state (django-otp)."""

from __future__ import annotations

import logging

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django_otp import user_has_device

logger = logging.getLogger(__name__)

TWO_FACTOR_SESSION_KEY = "webcare_2fa_owed"


class AxesBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for logins that come with a request.

    Axes refuses authenticate() calls without a request; those come from code,
    not from a login form (Django's test client, management commands), and a
    lockout protects the form. The form always passes the request.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def required_for(user) -> bool:
    roles = set(settings.REQUIRE_2FA_ROLES)
    return user.role in roles or ("admin" in roles and user.is_superuser)


def _owed_for(user) -> str:
    if user_has_device(user, confirmed=True):
        return "verify"
    if required_for(user):
        return "enrol"
    return ""


def two_factor_owed(request) -> str:
    """'verify', 'enrol' or '' for the logged-in user of this request."""
    user = request.user
    if getattr(user, "is_verified", None) and user.is_verified():
        return ""
    owed = request.session.get(TWO_FACTOR_SESSION_KEY)
    if owed is None:  # a session from before this middleware existed: decide once
        owed = _owed_for(user)
        request.session[TWO_FACTOR_SESSION_KEY] = owed
    return owed


@receiver(user_logged_in, dispatch_uid="webcare-two-factor-on-login")
def on_login(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[TWO_FACTOR_SESSION_KEY] = _owed_for(user)


def mark_two_factor_done(request) -> None:
    request.session[TWO_FACTOR_SESSION_KEY] = ""
