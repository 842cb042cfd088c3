"""The one way a service says no to a user: ActionRefused, with the message to show.

Raised before anything is written (or inside the transaction, which then rolls back), so a
refused action changed nothing. Views catch this one type (inbox.views.actions) and answer
with the message and `status`: 400 for a rule the input broke, 409 for a conflict with a
colleague's change.
"""

from __future__ import annotations

from django.utils.translation import gettext as _


class ActionRefused(Exception):
    """The action is not possible in the current state; the message is shown to the user."""

    status = 400


class ConflictError(ActionRefused):
    """Someone else changed the conversation after the user loaded it; nothing was changed."""

    status = 409

    def __init__(self, conversation_id: int, changed_by: str):
        self.conversation_id = conversation_id
        self.changed_by = changed_by
        super().__init__(
            _("%(name)s changed this conversation in the meantime; reload to see it")
            % {"name": changed_by}
        )


def who_changed(conversation_id: int) -> str:
    """Who made the conversation's latest change, for a ConflictError's message."""
    from inbox.models import ConversationEvent

    last = (
        ConversationEvent.objects.filter(conversation_id=conversation_id)
        .select_related("actor")
        .order_by("-created_at", "-id")
        .first()
    )
    if last is None or last.actor is None:
        return _("Someone")
    return str(last.actor)
