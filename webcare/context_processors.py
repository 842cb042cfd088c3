from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _leads_a_team(request: HttpRequest) -> bool:
    """From inbox.selectors.team.user_facts: the query that reads the user's teams, which a staff
    page has usually made already."""
    from inbox.selectors.team import user_facts

    return user_facts(request.user).leads_a_team


def navigation(request: HttpRequest) -> dict:
    """The main navigation, filtered by what the user's role may open.

    Lazy: only a full page shows the header; an htmx fragment (a poll, a panel, the workspace
    after a reply) renders with the same context processors and must not pay its query.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    return {"nav_items": SimpleLazyObject(lambda: _nav_items(request))}


def _nav_items(request: HttpRequest) -> list[tuple[str, "StrOrPromise", str]]:
    user = request.user
    if not user.is_authenticated:  # navigation() made this lazy only for a logged-in user
        return []
    items: list[tuple[str, StrOrPromise, str]] = []
    if user.is_coordinator:
        items.append(("inbox", _("Inbox"), reverse("inbox:inbox")))
        items.append(("rules", _("Routing"), reverse("routing:rules")))
    items.append(("team", _("My team"), reverse("inbox:team")))
    if user.is_manager or _leads_a_team(request):
        items.append(("dashboards", _("Dashboards"), reverse("dashboards")))
    items.append(("settings", _("Settings"), reverse("settings")))
    return items


def notification_count(request: HttpRequest) -> dict:
    """Unread notifications for the bell in the header (capped: no COUNT over everything).

    Lazy, like the navigation: counted only when a template shows it.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": SimpleLazyObject(lambda: _unread_label(request))}


def _unread_label(request: HttpRequest) -> int | str:
    from inbox.selectors.team import unread_notifications

    unread = unread_notifications(request.user)
    return "99+" if unread > 99 else unread
