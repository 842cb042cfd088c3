"""Continue privately: the action on a public conversation (inbox/services/handover.py).

Thin like the team's other actions (inbox/views/team.py): who may act first, one service
call, then the conversation page again so both threads show together; a refusal re-renders
the workspace with its message and what was typed.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from inbox import forms
from inbox.models import Channel
from inbox.services import handover as handover_services
from inbox.views.actions import run_action
from inbox.views.team import _actionable, _refused
from webcare.http import AuthedRequest
from webcare.permissions import any_user_required


@require_POST
@any_user_required
def continue_privately(request: AuthedRequest, pk: int):
    conv = _actionable(request, pk)

    def act(data):
        number = None
        if data["target"] == handover_services.WHATSAPP and data["whatsapp_channel"]:
            number = Channel.objects.filter(pk=data["whatsapp_channel"]).first()
        template = None
        if data["template"]:
            values = request.POST.getlist("template_parameter")[: forms.MAX_TEMPLATE_VALUES]
            template = (data["template"], values)
        return handover_services.continue_privately(
            conversation=conv,
            acting_user=request.user,
            target=data["target"],
            message=data["message"],
            notice=data["notice"],
            submit=data["action"] != "draft",
            whatsapp_channel=number,
            phone=data["phone"],
            template=template,
        )

    def done(result: handover_services.Handover):
        text = (
            _("Already continued privately in conversation #%(id)s.")
            if result.repeated
            else _("Continued privately in conversation #%(id)s.")
        )
        messages.success(request, text % {"id": result.private.pk})
        # The whole page again: its timeline now holds both threads.
        url = reverse("inbox:team_conversation", args=[conv.pk])
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)

    form = forms.HandoverForm(request.POST)
    typed = {
        "handover": True,
        "handover_message": form["message"].value() or "",
        "handover_notice": form["notice"].value() or "",
        "handover_phone": form["phone"].value() or "",
    }
    return run_action(form, act, done=done, refused=_refused(request, conv, typed=typed))
