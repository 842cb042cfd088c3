"""Department staff: the team queue, the reply workspace (composer, review, notes), export.

Shape of each view: selector (which checks team membership), one service call,
render. Actions answer htmx with the re-rendered workspace and plain POSTs with a
redirect, so everything also works without JavaScript.
"""

from __future__ import annotations

import csv
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from inbox import forms
from inbox.models import OPEN_STATUSES, AfterSend, Conversation, Reply, ReplyState
from inbox.selectors import handover as handover_selectors
from inbox.selectors import labels as label_selectors
from inbox.selectors import team as team_selectors
from inbox.services import messaging as messaging_services
from inbox.services import replies as reply_services
from inbox.services import team as team_services
from inbox.services import whatsapp as whatsapp_services
from inbox.views.actions import form_error_message, run_action
from inbox.views.labels import labels_context
from routing.models import Department
from webcare.csvcell import safe_row
from webcare.http import AuthedRequest
from webcare.permissions import any_user_required

# --- The queue -------------------------------------------------------------------------------


def _parse_after(raw: str) -> team_selectors.QueueKey | None:
    if not raw:
        return None
    try:
        due, received, pk = raw.split("_")
        return (
            datetime.fromisoformat(due) if due else None,
            datetime.fromisoformat(received),
            int(pk),
        )
    except ValueError:
        raise Http404("bad page key") from None


def _format_key(key: team_selectors.QueueKey | None) -> str:
    if key is None:
        return ""
    due, received, pk = key
    return f"{due.isoformat() if due else ''}_{received.isoformat()}_{pk}"


def _selected_team(request: AuthedRequest) -> Department | None:
    slug = request.GET.get("team", "")
    if not slug:
        return None
    department = get_object_or_404(Department, slug=slug)
    if not team_selectors.may_see_team(request.user, department.pk):
        raise PermissionDenied
    return department


@require_GET
@any_user_required
def team(request: AuthedRequest):
    """The team queue: open items of the user's teams, SLA due first."""
    department = _selected_team(request)
    raw_label = request.GET.get("label", "")
    label = int(raw_label) if raw_label.isdigit() else None
    rows, next_key = team_selectors.team_queue_page(
        request.user,
        department=department,
        mine=request.GET.get("mine") == "1",
        query=request.GET.get("q", "").strip()[:100],
        after=_parse_after(request.GET.get("after", "")),
        label=label,
    )
    context = {
        "conversations": rows,
        "rows": team_selectors.team_row_values(rows),
        "next_after": _format_key(next_key),
        "teams": team_selectors.teams_of(request.user),
        "team": department,
        "mine": request.GET.get("mine") == "1",
        "q": request.GET.get("q", ""),
        "label": label,
        "label_choices": label_selectors.active_label_choices(),
        "active": "team",
    }
    if request.htmx and request.GET.get("after"):
        return render(request, "inbox/team_rows.html", context)
    return render(request, "inbox/team.html", context)


@require_GET
@any_user_required
def team_export(request: AuthedRequest):
    """CSV of the open team queue the user may see (same visibility as the page)."""
    department = _selected_team(request)
    qs = (
        team_selectors.team_conversations(request.user, department=department)
        .filter(status__in=OPEN_STATUSES)
        .select_related("channel", "contact", "department", "assignee")
        .order_by("received_at", "id")
    )

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())

    def rows():
        yield writer.writerow(
            [
                "id",
                "received_at",
                "channel",
                "author",
                "team",
                "assignee",
                "status",
                "sla_due_at",
                "text",
            ]
        )
        for c in qs.iterator(chunk_size=500):
            # Channel names, handles and texts come from outside: no formulas (csvcell).
            yield writer.writerow(
                safe_row(
                    [
                        c.pk,
                        c.received_at.isoformat(),
                        c.channel.name,
                        c.contact.handle,
                        c.department.name if c.department else "",
                        c.assignee or "",
                        c.status,
                        c.sla_due_at.isoformat() if c.sla_due_at else "",
                        c.snippet,
                    ]
                )
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="team-queue.csv"'
    return response


@require_GET
@any_user_required
def reviews(request: AuthedRequest):
    """Replies of colleagues waiting for the user's review."""
    pending = list(team_selectors.review_queue(request.user)[:100])
    return render(request, "inbox/team_reviews.html", {"replies": pending, "active": "team"})


# --- One conversation ---------------------------------------------------------------------------


def _conversation(request: AuthedRequest, pk: int) -> Conversation:
    try:
        return team_selectors.get_team_conversation(request.user, pk)
    except Conversation.DoesNotExist:
        raise Http404 from None


def _workspace_context(request: AuthedRequest, conv: Conversation, **extra) -> dict:
    user = request.user
    all_replies = request.GET.get("replies") == "all"
    replies, earlier_replies = team_selectors.replies_for(
        conv, latest=None if all_replies else team_selectors.RECENT_REPLIES
    )
    draft: team_selectors.ReplyItem | Reply | None = next(
        (r for r in replies if r.state == ReplyState.DRAFT and r.author_id == user.pk), None
    )
    if draft is None and earlier_replies:
        draft = team_selectors.draft_of(conv, user)
    composed = reply_services.compose_reply(
        conversation=conv, user=user, text=draft.text if draft else ""
    )
    whatsapp_chat = whatsapp_services.is_whatsapp(conv)
    linked = handover_selectors.linked_conversations(user, conv)
    direct_chat = messaging_services.is_direct_chat(conv)
    private_chat = messaging_services.is_private_chat(conv)
    return {
        # "Continue privately": the conversations it linked, and the form where it is offered.
        "linked": linked,
        "continued_in": handover_selectors.open_private(linked, conv),
        "handover": handover_selectors.handover_choice(conv) if conv.is_public else None,
        "conversation": conv,
        "can_act": team_selectors.may_act_on(user, conv),
        "may_reply": reply_services.may_reply_from_channel(conversation=conv, user=user),
        # A chat or DM is private already: no choice to offer, no public notice.
        "can_private": reply_services.can_reply_privately(conv) and not private_chat,
        "private_chat": private_chat,
        # An X DM: counted in plain characters (10,000), one message, never a thread.
        "direct_chat": direct_chat,
        "whatsapp": _whatsapp_context(conv) if whatsapp_chat else None,
        "meta_dm": _meta_dm_context(conv) if messaging_services.is_meta_dm(conv) else None,
        "review_needed": reply_services.review_required(conversation=conv, author=user),
        "replies": replies,
        "earlier_replies": earlier_replies,
        "draft": draft,
        "composed": composed,
        "signature": reply_services.signature_for(conversation=conv, user=user),
        "members": team_selectors.team_member_list(conv.department_id)
        if conv.department_id
        else [],
        "notes": team_selectors.notes_for(conv),
        "faq_sets": team_selectors.faq_sets_for(conv),
        "after_send_choices": AfterSend.choices,
        "typed": {},
        **extra,
    }


def _whatsapp_context(conv: Conversation) -> dict:
    """The composer's WhatsApp part: the 24-hour window and the approved templates."""
    templates = whatsapp_services.templates_of(conv.channel)
    return {
        "window": whatsapp_services.window_state(conv),
        "closed_message": whatsapp_services.window_closed_message(),
        "templates": templates,
        "parameter_slots": range(1, max((t.parameters for t in templates), default=0) + 1),
    }


def _meta_dm_context(conv: Conversation) -> dict:
    """The composer's Messenger / Instagram Direct part: which window is open, until when."""
    state = messaging_services.window_state(conv)
    return {"window": state, "message": messaging_services.window_message(conv, state)}


def _respond(
    request: AuthedRequest,
    conv: Conversation,
    error: str = "",
    *,
    reread: bool = True,
    typed: dict | None = None,
):
    """htmx: the re-rendered workspace; a plain POST: back to the page (flash on error).

    `typed`: what the user typed into a form that was refused, shown again so nothing is lost.
    """
    if request.htmx:
        if reread:  # the action changed it: read again, with its relations in one query
            conv = _conversation(request, conv.pk)
        context = _workspace_context(request, conv, error=error, typed=typed or {})
        return render(request, "inbox/team_workspace.html", context)
    if error:
        messages.error(request, error)
    return redirect("inbox:team_conversation", pk=conv.pk)


def _refused(request: AuthedRequest, conv: Conversation, *, typed: dict | None = None):
    """The workspace answers a no with its message (a 2xx, so htmx swaps it in on every page);
    a late permission check stays a 403."""

    def refused(message: str, status: int):
        if status == 403:
            raise PermissionDenied(message)
        return _respond(request, conv, message, typed=typed)

    return refused


@require_GET
@any_user_required
def team_conversation(request: AuthedRequest, pk: int):
    conv = _conversation(request, pk)
    all_messages = request.GET.get("messages") == "all"
    context = _workspace_context(request, conv, active="team")
    # A public mention and the private conversation it continued in: one timeline.
    context["thread"], context["earlier_messages"] = team_selectors.thread_of(
        conv,
        latest=None if all_messages else team_selectors.RECENT_MESSAGES,
        linked=tuple(c.pk for c in context["linked"]),
    )
    context["history"] = handover_selectors.contact_history(request.user, conv)
    context.update(labels_context(request.user, conv))
    return render(request, "inbox/team_conversation.html", context)


@require_GET
@any_user_required
def workspace(request: AuthedRequest, pk: int):
    """The workspace fragment (composer, replies, notes): loaded into the coordinator panel too."""
    conv = _conversation(request, pk)
    return render(request, "inbox/team_workspace.html", _workspace_context(request, conv))


def _actionable(request: AuthedRequest, pk: int) -> Conversation:
    # Permission before input validation: an outsider learns nothing from error messages.
    try:
        return team_selectors.get_conversation_to_act_on(request.user, pk)
    except Conversation.DoesNotExist:
        raise Http404 from None


def _act(request: AuthedRequest, pk: int, form_class, action, *, done=None):
    """The team's actions: action(conv, cleaned_data) is one service call; the workspace shows
    the result (or `done` answers), or the refusal's message."""
    conv = _actionable(request, pk)
    return run_action(
        form_class(request.POST),
        lambda data: action(conv, data),
        done=done or (lambda _result: _respond(request, conv)),
        refused=_refused(request, conv),
    )


@require_POST
@any_user_required
def claim(request: AuthedRequest, pk: int):
    return _act(
        request,
        pk,
        forms.TeamActionForm,
        lambda c, data: team_services.claim_conversation(
            conversation=c, acting_user=request.user, expected_version=data["version"]
        ),
    )


@require_POST
@any_user_required
def unclaim(request: AuthedRequest, pk: int):
    return _act(
        request,
        pk,
        forms.TeamActionForm,
        lambda c, data: team_services.unclaim_conversation(
            conversation=c, acting_user=request.user, expected_version=data["version"]
        ),
    )


@require_POST
@any_user_required
def reassign(request: AuthedRequest, pk: int):
    return _act(
        request,
        pk,
        forms.ReassignForm,
        lambda c, data: team_services.reassign_conversation(
            conversation=c,
            assignee=data["assignee"],
            acting_user=request.user,
            expected_version=data["version"],
        ),
    )


def _back_to_queue(request: AuthedRequest):
    # The conversation left the team: back to the queue.
    messages.success(request, _("Handed back to the coordinator."))
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("inbox:team")
        return response
    return redirect("inbox:team")


@require_POST
@any_user_required
def hand_back(request: AuthedRequest, pk: int):
    return _act(
        request,
        pk,
        forms.HandBackForm,
        lambda c, data: team_services.hand_back_conversation(
            conversation=c,
            reason=data["reason"],
            acting_user=request.user,
            expected_version=data["version"],
        ),
        done=lambda _conv: _back_to_queue(request),
    )


@require_POST
@any_user_required
def close(request: AuthedRequest, pk: int):
    return _act(
        request,
        pk,
        forms.CloseForm,
        lambda c, data: reply_services.close_conversation(
            conversation=c, acting_user=request.user, reason=data["reason"]
        ),
    )


@require_POST
@any_user_required
def waiting(request: AuthedRequest, pk: int):
    return _act(
        request,
        pk,
        forms.NoInputForm,
        lambda c, data: reply_services.set_waiting_on_customer(
            conversation=c, acting_user=request.user
        ),
    )


@require_POST
@any_user_required
def note_add(request: AuthedRequest, pk: int):
    return _act(
        request,
        pk,
        forms.NoteForm,
        lambda c, data: reply_services.add_note(
            conversation=c, text=data["text"], acting_user=request.user
        ),
    )


# --- Composer ----------------------------------------------------------------------------------


@require_GET
@any_user_required
def canned_search(request: AuthedRequest, pk: int):
    """Canned answers matching ?q= (typed after "/"), filled in for this conversation."""
    conv = _actionable(request, pk)
    matches = team_selectors.canned_answers_for(
        request.user, conv, query=request.GET.get("q", "").strip()[:100]
    )
    return render(request, "inbox/composer_results.html", {"matches": matches})


@require_POST
@any_user_required
def preview(request: AuthedRequest, pk: int):
    """The reply as it will appear: count against the channel's limit, signature, thread split."""
    conv = _actionable(request, pk)
    form = forms.ComposerForm(request.POST)
    if not form.is_valid():
        # The text stays in the composer; the preview says what is wrong with it.
        return render(
            request,
            "inbox/composer_preview.html",
            {"conversation": conv, "error": form_error_message(form)},
            status=400,
        )
    composed = reply_services.compose_reply(
        conversation=conv,
        user=request.user,
        text=form.cleaned_data["text"],
        split=form.cleaned_data["split"],
        private=form.cleaned_data["private"] or messaging_services.is_private_chat(conv),
    )
    return render(
        request, "inbox/composer_preview.html", {"composed": composed, "conversation": conv}
    )


@require_POST
@any_user_required
def reply_save(request: AuthedRequest, pk: int):
    """Save the draft; with action=submit also send it on (to review or to the outbox)."""
    conv = _actionable(request, pk)

    def save(data):
        draft = None
        if data["reply"]:
            draft = get_object_or_404(Reply, pk=data["reply"], conversation=conv)
        fields = {
            "conversation": conv,
            "text": data["text"],
            "acting_user": request.user,
            "reply": draft,
            "private": data["private"],
            "after_send": data["after_send"],
        }
        if data["template"]:
            # The values in the order of the template's {{1}}, {{2}}...; the service checks them.
            values = request.POST.getlist("template_parameter")[: forms.MAX_TEMPLATE_VALUES]
            fields["template"] = (data["template"], values)
        if data["action"] == "submit":
            reply_services.save_and_submit_reply(
                **fields, split=data["split"], public_notice=data["public_notice"]
            )
        else:
            reply_services.save_draft(**fields)

    # What was typed is shown again with a refusal: a reply is never lost to a bad field.
    form = forms.ReplySaveForm(request.POST)
    typed = {"text": form["text"].value() or ""}
    return run_action(
        form,
        save,
        # A reply changes no field of the conversation: no need to read it again.
        done=lambda _result: _respond(request, conv, reread=False),
        refused=_refused(request, conv, typed=typed),
    )


def _reply_action(request: AuthedRequest, reply_id: int, form_class, action):
    try:
        reply = team_selectors.get_reply_for_user(request.user, reply_id)
    except Reply.DoesNotExist:
        raise Http404 from None
    conv = reply.conversation
    return run_action(
        form_class(request.POST),
        lambda data: action(reply, data),
        done=lambda _result: _respond(request, conv),
        refused=_refused(request, conv),
    )


@require_POST
@any_user_required
def reply_approve(request: AuthedRequest, reply_id: int):
    return _reply_action(
        request,
        reply_id,
        forms.ApproveForm,
        lambda r, data: reply_services.approve_reply(
            reply=r, acting_user=request.user, text=data["text"]
        ),
    )


@require_POST
@any_user_required
def reply_send_back(request: AuthedRequest, reply_id: int):
    return _reply_action(
        request,
        reply_id,
        forms.SendBackForm,
        lambda r, data: reply_services.send_back_reply(
            reply=r, comment=data["comment"], acting_user=request.user
        ),
    )


@require_POST
@any_user_required
def reply_retry(request: AuthedRequest, reply_id: int):
    return _reply_action(
        request,
        reply_id,
        forms.NoInputForm,
        lambda r, data: reply_services.retry_reply(reply=r, acting_user=request.user),
    )


@require_POST
@any_user_required
def reply_discard(request: AuthedRequest, reply_id: int):
    return _reply_action(
        request,
        reply_id,
        forms.NoInputForm,
        lambda r, data: reply_services.discard_reply(reply=r, acting_user=request.user),
    )
