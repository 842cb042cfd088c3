from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from assist.selectors import suggestions_for
from inbox.models import Conversation
from inbox.selectors.team import get_team_conversation, may_act_on
from webcare.http import AuthedRequest
from webcare.permissions import any_user_required


@require_GET
@any_user_required
def suggestions(request: AuthedRequest, pk: int):
    """The suggestions panel of a conversation (loaded by htmx once it scrolls into view)."""
    try:
        conversation = get_team_conversation(request.user, pk)
    except Conversation.DoesNotExist:
        raise Http404 from None
    context = {
        "conversation": conversation,
        "suggestions": suggestions_for(request.user, conversation),
        # Insert buttons only where the composer is: whoever may reply, while it is open.
        "can_insert": may_act_on(request.user, conversation) and conversation.is_open,
    }
    return render(request, "assist/suggestions.html", context)
