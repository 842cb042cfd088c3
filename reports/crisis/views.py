"""Crisis cluster pages: the list (managers watch, coordinators act), one cluster with its
members, taken-out items and threats apart, and the two actions behind a confirmation.

Thin: reads from reports.crisis.reads, every change through reports.crisis.actions. Each page
works without JavaScript (plain forms, a confirmation page); htmx only refreshes the list and
an action's progress.
"""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from inbox.models import HouseRule
from inbox.views.actions import run_action
from reports.crisis import actions, reads
from reports.models import ClusterAction, CrisisCluster, CrisisClusterAction
from webcare.http import AuthedRequest
from webcare.permissions import coordinator_or_manager_required, coordinator_required


class ActionForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), choices=ClusterAction.choices)
    revision = forms.IntegerField(label=_("Revision"), min_value=1)
    text = forms.CharField(
        label=_("Reply to all"), required=False, max_length=actions.MAX_TEXT, strip=True
    )
    rule = forms.ModelChoiceField(
        label=_("House rule"), queryset=HouseRule.objects.filter(active=True), required=False
    )
    confirmed = forms.BooleanField(required=False)


class IdsField(forms.Field):
    """Ticked checkboxes: a list of ids (the service only touches members of this cluster)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        values = value or []
        if not all(str(v).isdigit() for v in values):
            raise forms.ValidationError(_("Not a valid selection."))
        return [int(v) for v in values]

    def validate(self, value):
        if not value:
            raise forms.ValidationError(_("Tick at least one item."))


class TakeOutForm(forms.Form):
    member = IdsField(label=_("Items"))
    out = forms.TypedChoiceField(
        label=_("Take out"), choices=[("1", "1"), ("0", "0")], coerce=lambda v: v == "1"
    )


@require_GET
@coordinator_or_manager_required
def cluster_list(request: AuthedRequest):
    template = (
        "reports/crisis_clusters_list.html" if request.htmx else "reports/crisis_clusters.html"
    )
    return render(request, template, {"rows": reads.active_clusters(now=timezone.now())})


def _after(request, name: str) -> int:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else 0


def _cluster_context(request, cluster: CrisisCluster) -> dict:
    members, next_member = reads.members_page(cluster, after=_after(request, "after"))
    taken_out, next_out = reads.members_page(
        cluster, after=_after(request, "out_after"), taken_out=True
    )
    threats, next_threat = reads.members_page(cluster, threats=True)
    return {
        "cluster": cluster,
        "preview": actions.preview(cluster),
        "members": members,
        "next_member": next_member,
        "taken_out": taken_out,
        "next_out": next_out,
        "threats": threats,
        "more_threats": next_threat is not None,
        "history": reads.recent_actions(cluster),
        "rules": HouseRule.objects.filter(active=True),
        "may_act": request.user.is_coordinator,
    }


@require_GET
@coordinator_or_manager_required
def cluster_detail(request: AuthedRequest, pk: int):
    cluster = get_object_or_404(CrisisCluster, pk=pk)
    return render(request, "reports/crisis_cluster.html", _cluster_context(request, cluster))


@require_POST
@coordinator_required
def cluster_take_out(request: AuthedRequest, pk: int):
    cluster = get_object_or_404(CrisisCluster, pk=pk)
    form = TakeOutForm(request.POST)

    def refused(message: str, status: int) -> HttpResponse:
        context = _cluster_context(request, cluster) | {"error": message}
        return render(request, "reports/crisis_cluster.html", context, status=status)

    return run_action(
        form,
        lambda data: actions.take_out(
            cluster=cluster, member_ids=data["member"], acting_user=request.user, out=data["out"]
        ),
        done=lambda _n: redirect("reports:crisis_cluster", pk=cluster.pk),
        refused=refused,
    )


@require_POST
@coordinator_required
def cluster_act(request: AuthedRequest, pk: int):
    """First post: the confirmation page (what is covered, what is kept out). Confirmed: start."""
    cluster = get_object_or_404(CrisisCluster, pk=pk)
    form = ActionForm(request.POST)

    def refused(message: str, status: int) -> HttpResponse:
        context = _cluster_context(request, cluster) | {"error": message}
        return render(request, "reports/crisis_cluster.html", context, status=status)

    if form.is_valid() and not form.cleaned_data["confirmed"]:
        data = form.cleaned_data
        if data["action"] == ClusterAction.ANSWER and not data["text"]:
            return refused(str(_("Write the reply first.")), 400)
        if data["action"] == ClusterAction.HIDE and data["rule"] is None:
            return refused(str(_("Choose the house rule to hide under.")), 400)
        return render(
            request,
            "reports/crisis_cluster_confirm.html",
            {"cluster": cluster, "preview": actions.preview(cluster), "data": data},
        )
    return run_action(
        form,
        lambda data: actions.start_action(
            cluster=cluster,
            action=data["action"],
            acting_user=request.user,
            revision=data["revision"],
            text=data["text"],
            rule=data["rule"],
        ),
        done=lambda record: redirect(
            "reports:crisis_cluster_action", pk=cluster.pk, action_pk=record.pk
        ),
        refused=refused,
    )


@require_GET
@coordinator_or_manager_required
def cluster_action(request: AuthedRequest, pk: int, action_pk: int):
    """An action's progress (htmx polls the fragment until it is done)."""
    record = get_object_or_404(
        CrisisClusterAction.objects.select_related("cluster", "actor", "rule"),
        pk=action_pk,
        cluster_id=pk,
    )
    template = (
        "reports/crisis_cluster_progress.html"
        if request.htmx
        else "reports/crisis_cluster_action.html"
    )
    return render(request, template, {"record": record, "cluster": record.cluster})
