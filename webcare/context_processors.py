from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


def navigation(request: HttpRequest) -> dict:
    """The main navigation, filtered by what the user's role may open."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    if user.is_coordinator:
        items.append(("inbox", _("Inbox"), reverse("inbox:inbox")))
        items.append(("rules", _("Routing"), reverse("routing:rules")))
    items.append(("team", _("My team"), reverse("inbox:team")))
    if user.is_manager or user.memberships.filter(is_lead=True).exists():
        items.append(("dashboards", _("Dashboards"), reverse("dashboards")))
    items.append(("settings", _("Settings"), reverse("settings")))
    return {"nav_items": items}


def notification_count(request: HttpRequest) -> dict:
    """Unread notifications for the bell in the header (capped: no COUNT over everything)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from inbox.models import Notification

    unread = Notification.objects.filter(user=user, read_at__isnull=True)[:100].count()
    return {"unread_notifications": "99+" if unread > 99 else unread}
