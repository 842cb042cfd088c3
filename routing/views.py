from django.shortcuts import render
from django.views.decorators.http import require_GET

from routing.models import Department
from webcare.http import AuthedRequest
from webcare.permissions import coordinator_required


@require_GET
@coordinator_required
def departments(request: AuthedRequest):
    teams = Department.objects.prefetch_related("memberships__user")
    return render(request, "routing/departments.html", {"departments": teams})
