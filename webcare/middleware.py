import logging
import re
import time
import uuid
import zoneinfo
from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from webcare.logs import request_id_var
from webcare.security import two_factor_owed


class UserTimezoneMiddleware:
    """Show times in the user's own zone (stored on the user; default Europe/Amsterdam)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tzname = getattr(getattr(request, "user", None), "timezone", "")
        if tzname:
            try:
                timezone.activate(zoneinfo.ZoneInfo(tzname))
            except zoneinfo.ZoneInfoNotFoundError:
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)


_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
access_logger = logging.getLogger("webcare.request")


class RequestIdMiddleware:
    """Give every request an id (or keep the one a proxy sent) and log one line per request.

    The id is answered in X-Request-ID and put on every log line of the request
    and of the tasks it enqueues (webcare.logs).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        # Only a sane id is trusted: a header is attacker-controlled and ends up in logs.
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


# Where a user who still has to verify or enrol may go.
TWO_FACTOR_OPEN_PREFIXES = ("/static/", "/hooks/", "/health/", "/metrics/", "/i18n/")
TWO_FACTOR_OPEN_NAMES = ("logout", "two_factor_verify", "two_factor_setup", "login")


class TwoFactorMiddleware:
    """After the password: users with a TOTP device verify a code; required roles enrol first.

    What a session still owes is decided once, at login (webcare.security.on_login),
    and kept in the session, so an ordinary request costs no query here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            owed = two_factor_owed(request)
            if owed and not self._open(request):
                target = "two_factor_verify" if owed == "verify" else "two_factor_setup"
                url = f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}"
                if request.headers.get("HX-Request") == "true":  # django-htmx runs later
                    return HttpResponse(status=204, headers={"HX-Redirect": url})
                return redirect(url)
        return self.get_response(request)

    @staticmethod
    def _open(request) -> bool:
        if request.path.startswith(TWO_FACTOR_OPEN_PREFIXES):
            return True
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
        return match.url_name in TWO_FACTOR_OPEN_NAMES
