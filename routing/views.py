from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from routing import services
from routing.forms import (
    BusinessCalendarForm,
    ClosureFormSet,
    SlaPolicyForm,
    TryoutForm,
    WindowFormSet,
)
from routing.models import BusinessCalendar, Department, SlaPolicy, SlaTarget
from webcare.http import AuthedRequest
from webcare.permissions import coordinator_required, manager_required


@require_GET
@coordinator_required
def departments(request: AuthedRequest):
    teams = Department.objects.prefetch_related("memberships__user")
    return render(request, "routing/departments.html", {"departments": teams})


@require_GET
@manager_required
def sla_overview(request: AuthedRequest):
    """Policies in order, calendars, and the "when would this be due" tryout."""
    policies = SlaPolicy.objects.select_related("department", "calendar").order_by("order", "id")
    calendars = BusinessCalendar.objects.prefetch_related("windows", "departments")
    tryout = TryoutForm(request.GET or None)
    result = None
    if tryout.is_bound and tryout.is_valid():
        result = _tryout(tryout.cleaned_data)
    return render(
        request,
        "routing/sla.html",
        {
            "policies": policies,
            "calendars": calendars,
            "tryout": tryout,
            "result": result,
            "active": "settings",
        },
    )


def _tryout(data: dict) -> dict:
    channel = data.get("channel")
    department = data.get("department")
    flags = sum(set(data.get("flags") or []))
    policy = None
    for candidate in services.active_policies():
        if services.policy_matches(
            candidate,
            channel_kind=channel.kind if channel else data.get("channel_kind", ""),
            channel_id=channel.pk if channel else None,
            priority=data["priority"],
            department_id=department.pk if department else None,
            flags=flags,
        ):
            policy = candidate
            break
    if policy is None:
        return {"policy": None}
    calendar = services.effective_calendar(policy, department)
    spec = services.calendar_spec(calendar)
    times = services.due_times(policy=policy, spec=spec, at=data["at"])
    labels = dict(SlaTarget.choices)
    rows = [
        {"label": labels[kind], "warn": pair[0], "due": pair[1]}
        for kind, pair in times.items()
        if pair is not None
    ]
    return {"policy": policy, "calendar": calendar, "rows": rows}


@require_http_methods(["GET", "POST"])
@manager_required
def policy_edit(request: AuthedRequest, pk: int | None = None):
    policy = get_object_or_404(SlaPolicy, pk=pk) if pk else SlaPolicy()
    form = SlaPolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Policy saved. It applies to clocks that start from now on."))
        return redirect("routing:sla")
    return render(
        request, "routing/policy_form.html", {"form": form, "policy": policy, "active": "settings"}
    )


@require_http_methods(["GET", "POST"])
@manager_required
def calendar_edit(request: AuthedRequest, pk: int | None = None):
    calendar = get_object_or_404(BusinessCalendar, pk=pk) if pk else BusinessCalendar()
    data = request.POST or None
    form = BusinessCalendarForm(data, instance=calendar)
    windows = WindowFormSet(data, instance=calendar, prefix="windows")
    closures = ClosureFormSet(data, instance=calendar, prefix="closures")
    if request.method == "POST" and all(f.is_valid() for f in (form, windows, closures)):
        with transaction.atomic():
            saved = form.save()
            windows.instance = closures.instance = saved
            windows.save()
            closures.save()
        messages.success(request, _("Calendar saved. It applies to clocks that start from now on."))
        return redirect("routing:sla")
    return render(
        request,
        "routing/calendar_form.html",
        {
            "form": form,
            "windows": windows,
            "closures": closures,
            "calendar": calendar,
            "active": "settings",
        },
    )
