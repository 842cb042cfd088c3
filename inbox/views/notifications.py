"""The signed-in user's notifications: a short list and "mark all read"."""

from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from inbox.models import Notification
from webcare.http import AuthedRequest
from webcare.permissions import any_user_required

LIST_SIZE = 50


@require_GET
@any_user_required
def notifications(request: AuthedRequest):
    # Uses index: notification_user_idx (user, read_at, -created_at); only the latest page.
    items = list(
        Notification.objects.filter(user=request.user).order_by("-created_at", "-id")[:LIST_SIZE]
    )
    return render(
        request, "inbox/notifications.html", {"notifications": items, "active": "notifications"}
    )


@require_POST
@any_user_required
def notifications_read(request: AuthedRequest):
    Notification.objects.filter(user=request.user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    return redirect("inbox:notifications")
