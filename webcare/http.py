from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from webcare.accounts.models import User


class AuthedRequest(HttpRequest):
    """A request from a logged-in user, for type hints in views."""

    user: User
    htmx: HtmxDetails


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails
