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

from inbox.models import OPEN_STATUSES, AfterSend, Conversation, Reply, ReplyState
from inbox.selectors import team as team_selectors
from inbox.services import replies as reply_services
from inbox.services import team as team_services
from inbox.services.team import ActionRefused
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
    rows, next_key = team_selectors.team_queue_page(
        request.user,
        department=department,
        mine=request.GET.get("mine") == "1",
        query=request.GET.get("q", "").strip()[:100],
        after=_parse_after(request.GET.get("after", "")),
    )
    context = {
        "conversations": rows,
        "rows": team_selectors.team_row_values(rows),
        "next_after": _format_key(next_key),
        "teams": team_selectors.teams_of(request.user),
        "team": department,
        "mine": request.GET.get("mine") == "1",
        "q": request.GET.get("q", ""),
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
        yield writer.writerow(["id", "received_at", "channel", "author", "team", "assignee",
                               "status", "sla_due_at", "text"])  # fmt: skip
        for c in qs.iterator(chunk_size=500):
            # Channel names, handles and texts come from outside: no formulas (csvcell).
            yield writer.writerow(safe_row([
                c.pk, c.received_at.isoformat(), c.channel.name, c.contact.handle,
                c.department.name if c.department else "", c.assignee or "", c.status,
                c.sla_due_at.isoformat() if c.sla_due_at else "", c.snippet,
            ]))  # fmt: skip

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
    draft = next(
        (r for r in replies if r.state == ReplyState.DRAFT and r.author_id == user.pk), None
    )
    if draft is None and earlier_replies:
        draft = team_selectors.draft_of(conv, user)
    composed = reply_services.compose_reply(
        conversation=conv, user=user, text=draft.text if draft else ""
    )
    return {
        "conversation": conv,
        "can_act": team_selectors.may_act_on(user, conv),
        "may_reply": reply_services.may_reply_from_channel(conversation=conv, user=user),
        "can_private": reply_services.can_reply_privately(conv),
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
        **extra,
    }


def _respond(request: AuthedRequest, conv: Conversation, error: str = "", *, reread: bool = True):
    """htmx: the re-rendered workspace; a plain POST: back to the page (flash on error)."""
    if request.htmx:
        if reread:  # the action changed it: read again, with its relations in one query
            conv = _conversation(request, conv.pk)
        return render(
            request, "inbox/team_workspace.html", _workspace_context(request, conv, error=error)
        )
    if error:
        messages.error(request, error)
    return redirect("inbox:team_conversation", pk=conv.pk)


@require_GET
@any_user_required
def team_conversation(request: AuthedRequest, pk: int):
    conv = _conversation(request, pk)
    all_messages = request.GET.get("messages") == "all"
    thread, earlier_messages = team_selectors.thread_of(
        conv, latest=None if all_messages else team_selectors.RECENT_MESSAGES
    )
    context = _workspace_context(
        request, conv, thread=thread, earlier_messages=earlier_messages, active="team"
    )
    return render(request, "inbox/team_conversation.html", context)


@require_GET
@any_user_required
def workspace(request: AuthedRequest, pk: int):
    """The workspace fragment (composer, replies, notes): loaded into the coordinator panel too."""
    conv = _conversation(request, pk)
    return render(request, "inbox/team_workspace.html", _workspace_context(request, conv))


def _version(request: AuthedRequest) -> int | None:
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else None


def _act(request: AuthedRequest, pk: int, action):
    conv = _conversation(request, pk)
    # Permission before input validation: an outsider learns nothing from error messages.
    if not team_selectors.may_act_on(request.user, conv):
        raise PermissionDenied
    try:
        action(conv)
    except ActionRefused as exc:
        return _respond(request, conv, str(exc))
    return _respond(request, conv)


@require_POST
@any_user_required
def claim(request: AuthedRequest, pk: int):
    return _act(request, pk, lambda c: team_services.claim_conversation(
        conversation=c, acting_user=request.user, expected_version=_version(request)))  # fmt: skip


@require_POST
@any_user_required
def unclaim(request: AuthedRequest, pk: int):
    return _act(request, pk, lambda c: team_services.unclaim_conversation(
        conversation=c, acting_user=request.user, expected_version=_version(request)))  # fmt: skip


@require_POST
@any_user_required
def reassign(request: AuthedRequest, pk: int):
    from webcare.accounts.models import User

    def action(conv):
        try:
            assignee = User.objects.get(pk=int(request.POST.get("assignee", "0")))
        except (User.DoesNotExist, ValueError):
            raise ActionRefused(_("Choose a colleague.")) from None
        team_services.reassign_conversation(
            conversation=conv,
            assignee=assignee,
            acting_user=request.user,
            expected_version=_version(request),
        )

    return _act(request, pk, action)


@require_POST
@any_user_required
def hand_back(request: AuthedRequest, pk: int):
    conv = _conversation(request, pk)
    if not team_selectors.may_act_on(request.user, conv):
        raise PermissionDenied
    try:
        team_services.hand_back_conversation(
            conversation=conv,
            reason=request.POST.get("reason", ""),
            acting_user=request.user,
            expected_version=_version(request),
        )
    except ActionRefused as exc:
        return _respond(request, conv, str(exc))
    # The conversation left the team: back to the queue.
    messages.success(request, _("Handed back to the coordinator."))
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("inbox:team")
        return response
    return redirect("inbox:team")


@require_POST
@any_user_required
def close(request: AuthedRequest, pk: int):
    return _act(request, pk, lambda c: reply_services.close_conversation(
        conversation=c, acting_user=request.user, reason=request.POST.get("reason", "")))  # fmt: skip


@require_POST
@any_user_required
def waiting(request: AuthedRequest, pk: int):
    return _act(request, pk, lambda c: reply_services.set_waiting_on_customer(
        conversation=c, acting_user=request.user))  # fmt: skip


@require_POST
@any_user_required
def note_add(request: AuthedRequest, pk: int):
    return _act(request, pk, lambda c: reply_services.add_note(
        conversation=c, text=request.POST.get("text", ""), acting_user=request.user))  # fmt: skip


# --- Composer ----------------------------------------------------------------------------------


@require_GET
@any_user_required
def canned_search(request: AuthedRequest, pk: int):
    """Canned answers matching ?q= (typed after "/"), filled in for this conversation."""
    conv = _conversation(request, pk)
    if not team_selectors.may_act_on(request.user, conv):
        raise PermissionDenied
    matches = team_selectors.canned_answers_for(
        request.user, conv, query=request.GET.get("q", "").strip()[:100]
    )
    return render(request, "inbox/composer_results.html", {"matches": matches})


@require_POST
@any_user_required
def preview(request: AuthedRequest, pk: int):
    """The reply as it will appear: count against the channel's limit, signature, thread split."""
    conv = _conversation(request, pk)
    if not team_selectors.may_act_on(request.user, conv):
        raise PermissionDenied
    composed = reply_services.compose_reply(
        conversation=conv,
        user=request.user,
        text=request.POST.get("text", "")[:20000],
        split=request.POST.get("split") == "on",
        private=request.POST.get("private") == "on",
    )
    return render(
        request, "inbox/composer_preview.html", {"composed": composed, "conversation": conv}
    )


@require_POST
@any_user_required
def reply_save(request: AuthedRequest, pk: int):
    """Save the draft; with action=submit also send it on (to review or to the outbox)."""
    conv = _conversation(request, pk)
    if not team_selectors.may_act_on(request.user, conv):
        raise PermissionDenied
    draft = None
    if request.POST.get("reply"):
        draft = get_object_or_404(Reply, pk=request.POST["reply"], conversation=conv)
    after_send = request.POST.get("after_send", AfterSend.ANSWERED)
    if after_send not in AfterSend.values:
        after_send = AfterSend.ANSWERED
    fields = {
        "conversation": conv,
        "text": request.POST.get("text", "")[:20000],
        "acting_user": request.user,
        "reply": draft,
        "private": request.POST.get("private") == "on",
        "after_send": after_send,
    }
    try:
        if request.POST.get("action") == "submit":
            reply_services.save_and_submit_reply(
                **fields,
                split=request.POST.get("split") == "on",
                public_notice=request.POST.get("public_notice", "")[:1000],
            )
        else:
            reply_services.save_draft(**fields)
    except ActionRefused as exc:
        return _respond(request, conv, str(exc))
    # A reply changes no field of the conversation: no need to read it again.
    return _respond(request, conv, reread=False)


def _reply_action(request: AuthedRequest, reply_id: int, action):
    try:
        reply = team_selectors.get_reply_for_user(request.user, reply_id)
    except Reply.DoesNotExist:
        raise Http404 from None
    conv = reply.conversation
    try:
        action(reply)
    except ActionRefused as exc:
        return _respond(request, conv, str(exc))
    return _respond(request, conv)


@require_POST
@any_user_required
def reply_approve(request: AuthedRequest, reply_id: int):
    return _reply_action(request, reply_id, lambda r: reply_services.approve_reply(
        reply=r, acting_user=request.user, text=request.POST.get("text")))  # fmt: skip


@require_POST
@any_user_required
def reply_send_back(request: AuthedRequest, reply_id: int):
    return _reply_action(request, reply_id, lambda r: reply_services.send_back_reply(
        reply=r, comment=request.POST.get("comment", ""), acting_user=request.user))  # fmt: skip


@require_POST
@any_user_required
def reply_retry(request: AuthedRequest, reply_id: int):
    return _reply_action(request, reply_id, lambda r: reply_services.retry_reply(
        reply=r, acting_user=request.user))  # fmt: skip


@require_POST
@any_user_required
def reply_discard(request: AuthedRequest, reply_id: int):
    return _reply_action(request, reply_id, lambda r: reply_services.discard_reply(
        reply=r, acting_user=request.user))  # fmt: skip
