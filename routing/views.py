from typing import Any

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from routing.forms import (
    BusinessCalendarForm,
    ClosureFormSet,
    ReopenedHolidayFormSet,
    RoutingRuleForm,
    SlaPolicyForm,
    TryoutForm,
    WindowFormSet,
    holiday_label_language,
    reopened_label,
)
from routing.models import BusinessCalendar, Department, RoutingRule, SlaPolicy, SlaTarget
from routing.rules.editing import (
    delete_routing_rule,
    move_routing_rule,
    save_routing_rule,
    try_rule,
)
from routing.sla.policies import (
    active_policies,
    calendar_spec,
    due_times,
    effective_calendar,
    first_matching_policy,
    holiday_overview,
)
from webcare.http import AuthedRequest
from webcare.permissions import coordinator_required, manager_required


@require_GET
@coordinator_required
def departments(request: AuthedRequest):
    teams = Department.objects.prefetch_related("memberships__user")
    return render(
        request, "routing/departments.html", {"departments": teams, "active": "departments"}
    )


@require_GET
@manager_required
def sla_overview(request: AuthedRequest):
    """Policies in order, calendars, and the "when would this be due" tryout."""
    policies = SlaPolicy.objects.select_related("department", "calendar").order_by("order", "id")
    calendars = list(
        BusinessCalendar.objects.prefetch_related("windows", "departments", "reopened_holidays")
    )
    # Each calendar with the reopened holidays it works on, as the UI names them.
    calendars_works_on = [
        (calendar, [reopened_label(r) for r in calendar.reopened_holidays.all()])
        for calendar in calendars
    ]
    tryout = TryoutForm(request.GET or None)
    result = None
    if tryout.is_bound and tryout.is_valid():
        result = _tryout(tryout.cleaned_data)
    return render(
        request,
        "routing/sla.html",
        {
            "policies": policies,
            "calendars": calendars_works_on,
            "tryout": tryout,
            "result": result,
            "active": "settings",
        },
    )


def _tryout(data: dict) -> dict:
    channel = data.get("channel")
    department = data.get("department")
    policy = first_matching_policy(
        active_policies(),
        channel_kind=channel.kind if channel else data.get("channel_kind", ""),
        channel_id=channel.pk if channel else None,
        priority=data["priority"],
        department_id=department.pk if department else None,
        flags=sum(set(data.get("flags") or [])),
    )
    if policy is None:
        return {"policy": None}
    calendar = effective_calendar(policy, department)
    spec = calendar_spec(calendar)
    if not spec.has_open_time():
        # Saved before the editor refused such calendars, or written around it.
        return {"policy": policy, "calendar": calendar, "no_open_time": True}
    times = due_times(policy=policy, spec=spec, at=data["at"])
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
    reopened = ReopenedHolidayFormSet(data, instance=calendar, prefix="holidays")
    formsets = (windows, closures, reopened)
    # Every form validated (all errors shown at once), the calendar's own first: the windows
    # formset reads its "open 24/7" from the instance that form updates.
    checked = [f.is_valid() for f in (form, *formsets)]
    if request.method == "POST" and all(checked):
        with transaction.atomic():
            saved = form.save()
            for formset in formsets:
                formset.instance = saved
                formset.save()
        messages.success(request, _("Calendar saved. It applies to clocks that start from now on."))
        return redirect("routing:sla")
    return render(
        request,
        "routing/calendar_form.html",
        {
            "form": form,
            "windows": windows,
            "closures": closures,
            "reopened": reopened,
            "holidays": _holidays(calendar),
            "calendar": calendar,
            "active": "settings",
        },
    )


def _holidays(calendar: BusinessCalendar) -> list:
    """This year's and next year's public holidays, open or closed as the calendar is saved."""
    calendar = BusinessCalendar.objects.get(pk=calendar.pk) if calendar.pk else calendar
    year = timezone.localdate().year
    return holiday_overview(calendar, years=(year, year + 1), language=holiday_label_language())


@require_http_methods(["GET", "POST"])
@coordinator_required
def rules(request: AuthedRequest):
    form = RoutingRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        save_routing_rule(rule=form.apply_to(form.instance), acting_user=request.user)
        return redirect("routing:rules")
    rule_list = RoutingRule.objects.select_related("department", "channel", "label")
    return render(
        request, "routing/rules.html", {"rules": rule_list, "form": form, "active": "rules"}
    )


@require_http_methods(["GET", "POST"])
@coordinator_required
def rule_edit(request: AuthedRequest, pk: int):
    rule = get_object_or_404(RoutingRule, pk=pk)
    form = RoutingRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        save_routing_rule(rule=form.apply_to(rule), acting_user=request.user)
        return redirect("routing:rules")
    return render(
        request, "routing/rule_edit.html", {"rule": rule, "form": form, "active": "rules"}
    )


@require_POST
@coordinator_required
def rule_move(request: AuthedRequest, pk: int):
    rule = get_object_or_404(RoutingRule, pk=pk)
    direction = -1 if request.POST.get("direction") == "up" else 1
    move_routing_rule(rule=rule, direction=direction, acting_user=request.user)
    return redirect("routing:rules")


@require_POST
@coordinator_required
def rule_delete(request: AuthedRequest, pk: int):
    delete_routing_rule(rule=get_object_or_404(RoutingRule, pk=pk), acting_user=request.user)
    return redirect("routing:rules")


@require_POST
@coordinator_required
def rule_try(request: AuthedRequest):
    """Run the rule being edited against the last 1,000 messages, without saving it."""
    form = RoutingRuleForm(request.POST)
    context: dict[str, Any] = {"form": form}
    if form.is_valid():
        examined, matched, hits = try_rule(form.apply_to(RoutingRule()))
        context.update({"examined": examined, "matched": matched, "hits": hits, "tried": True})
    template = "routing/rule_try.html" if request.htmx else "routing/rules.html"
    if not request.htmx:
        context["rules"] = RoutingRule.objects.select_related("department", "channel")
    return render(request, template, context)
