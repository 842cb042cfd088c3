from datetime import datetime

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from inbox import selectors
from inbox.models import Conversation
from webcare.http import AuthedRequest
from webcare.permissions import any_user_required, coordinator_required


def _parse_before(request) -> tuple[datetime, int] | None:
    raw = request.GET.get("before", "")
    if not raw:
        return None
    try:
        stamp, pk = raw.rsplit("_", 1)
        return datetime.fromisoformat(stamp), int(pk)
    except ValueError:
        raise Http404("bad page key") from None


def _render_list(request, qs, template: str, extra: dict):
    rows, next_key = selectors.keyset_page(qs, before=_parse_before(request))
    context = {
        "conversations": rows,
        "next_before": f"{next_key[0].isoformat()}_{next_key[1]}" if next_key else "",
        **extra,
    }
    if request.htmx and request.GET.get("before"):
        return render(request, "inbox/conversation_rows.html", context)
    return render(request, template, context)


@require_GET
@coordinator_required
def inbox(request: AuthedRequest):
    return _render_list(
        request, selectors.shared_inbox(request.user), "inbox/inbox.html", {"active": "inbox"}
    )


@require_GET
@any_user_required
def conversation(request: AuthedRequest, pk: int):
    try:
        conv = selectors.get_conversation_for_user(request.user, pk)
    except Conversation.DoesNotExist:
        raise Http404 from None
    messages = conv.messages.select_related("contact", "sent_by").order_by("created_at", "id")
    events = conv.events.select_related("actor").order_by("created_at", "id")
    return render(
        request,
        "inbox/conversation.html",
        {"conversation": conv, "thread": messages, "events": events},
    )
