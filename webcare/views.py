from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from webcare.http import AuthedRequest
from webcare.permissions import any_user_required


@require_GET
@any_user_required
def home(request: AuthedRequest):
    """The landing page per role: coordinators the shared inbox, staff their team, managers dashboards."""
    user = request.user
    if user.is_manager and not user.is_admin_role:
        return redirect("dashboards")
    if user.is_coordinator:
        return redirect("inbox:inbox")
    return redirect("inbox:team")


@require_GET
@any_user_required
def settings_page(request: AuthedRequest):
    return render(request, "settings.html")
