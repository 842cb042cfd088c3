"""The administrators' label settings: the list, a new label, and editing or archiving one."""

from __future__ import annotations

from django.contrib import messages as flash
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from inbox.forms import LabelForm
from inbox.models import Conversation, Label, LabelColour
from inbox.selectors import labels as label_selectors
from inbox.selectors import team as team_selectors
from inbox.services import labels as labels_service
from inbox.services.refusals import ActionRefused
from webcare.http import AuthedRequest
from webcare.permissions import admin_required


def labels_context(user, conv: Conversation) -> dict:
    """The conversation's label chips (who or which rule applied each) and, for whoever may act
    on it, the boxes to change them: the active labels and any archived one it still has."""
    applied = label_selectors.labels_of([conv.pk]).get(conv.pk, [])
    have = {a.pk for a in applied}
    return {
        "applied_labels": applied,
        "can_label": team_selectors.may_act_on(user, conv),
        "label_boxes": [
            (o, o.pk in have)
            for o in label_selectors.label_options()
            if o.is_active or o.pk in have
        ],
    }


def _render(request, form: LabelForm, *, label: Label | None = None, status: int = 200):
    return render(
        request,
        "inbox/labels.html",
        {
            "form": form,
            "editing": label,
            "labels": Label.objects.all(),
            "colours": LabelColour.choices,
            "active": "settings",
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@admin_required
def labels(request: AuthedRequest):
    form = LabelForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            return _render(request, form, status=400)
        try:
            label = labels_service.create_label(
                name=form.cleaned_data["name"],
                colour=form.cleaned_data["colour"],
                description=form.cleaned_data["description"],
                acting_user=request.user,
            )
        except ActionRefused as exc:
            form.add_error("name", str(exc))
            return _render(request, form, status=400)
        flash.success(request, _("Label “%(name)s” created.") % {"name": label.name})
        return redirect("inbox:labels")
    return _render(request, form)


@require_http_methods(["GET", "POST"])
@admin_required
def label_edit(request: AuthedRequest, pk: int):
    label = get_object_or_404(Label, pk=pk)
    form = LabelForm(request.POST or None, instance=Label.objects.get(pk=pk))
    if request.method == "POST":
        if not form.is_valid():
            return _render(request, form, label=label, status=400)
        try:
            labels_service.update_label(
                label=label,
                acting_user=request.user,
                **{name: form.cleaned_data[name] for name in labels_service.EDITABLE_FIELDS},
            )
        except ActionRefused as exc:
            form.add_error("name", str(exc))
            return _render(request, form, label=label, status=400)
        flash.success(request, _("Label “%(name)s” saved.") % {"name": label.name})
        return redirect("inbox:labels")
    return _render(request, form, label=label)
