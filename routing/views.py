from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from routing import services
from routing.forms import RoutingRuleForm
from routing.models import Department, RoutingRule
from webcare.http import AuthedRequest
from webcare.permissions import coordinator_required


@require_GET
@coordinator_required
def departments(request: AuthedRequest):
    teams = Department.objects.prefetch_related("memberships__user")
    return render(
        request, "routing/departments.html", {"departments": teams, "active": "departments"}
    )


@require_http_methods(["GET", "POST"])
@coordinator_required
def rules(request: AuthedRequest):
    form = RoutingRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.save_routing_rule(rule=form.apply_to(form.instance), acting_user=request.user)
        return redirect("routing:rules")
    rule_list = RoutingRule.objects.select_related("department", "channel")
    return render(
        request, "routing/rules.html", {"rules": rule_list, "form": form, "active": "rules"}
    )


@require_http_methods(["GET", "POST"])
@coordinator_required
def rule_edit(request: AuthedRequest, pk: int):
    rule = get_object_or_404(RoutingRule, pk=pk)
    form = RoutingRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        services.save_routing_rule(rule=form.apply_to(rule), acting_user=request.user)
        return redirect("routing:rules")
    return render(
        request, "routing/rule_edit.html", {"rule": rule, "form": form, "active": "rules"}
    )


@require_POST
@coordinator_required
def rule_move(request: AuthedRequest, pk: int):
    rule = get_object_or_404(RoutingRule, pk=pk)
    direction = -1 if request.POST.get("direction") == "up" else 1
    services.move_routing_rule(rule=rule, direction=direction, acting_user=request.user)
    return redirect("routing:rules")


@require_POST
@coordinator_required
def rule_delete(request: AuthedRequest, pk: int):
    services.delete_routing_rule(
        rule=get_object_or_404(RoutingRule, pk=pk), acting_user=request.user
    )
    return redirect("routing:rules")


@require_POST
@coordinator_required
def rule_try(request: AuthedRequest):
    """Run the rule being edited against the last 1,000 messages, without saving it."""
    form = RoutingRuleForm(request.POST)
    context = {"form": form}
    if form.is_valid():
        examined, matched, hits = services.try_rule(form.apply_to(RoutingRule()))
        context.update({"examined": examined, "matched": matched, "hits": hits, "tried": True})
    template = "routing/rule_try.html" if request.htmx else "routing/rules.html"
    if not request.htmx:
        context["rules"] = RoutingRule.objects.select_related("department", "channel")
    return render(request, template, context)
