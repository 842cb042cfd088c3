"""What the organisation's own handled conversations teach the "needs a reply" model.

A read for offline training (manage.py train_needs_reply --from-handled), never on a request.
"""

from __future__ import annotations

from inbox.lib.assist.training import Example
from inbox.models import Conversation, Direction, Message, Status

# Handled: answered, or closed with or without a reply. Hidden ones are left out (hiding is
# about abuse and spam, not about whether a question was asked).
HANDLED = (Status.ANSWERED, Status.CLOSED, Status.NO_REPLY_NEEDED)


def handled_examples(*, limit: int = 50_000) -> list[Example]:
    """Customer messages of the latest `limit` handled conversations, labelled: answered when
    one of our messages followed it in its conversation, not answered when none did (a
    conversation closed without reply, or the customer's "thanks" after our last answer)."""
    ids = list(
        Conversation.objects.filter(status__in=HANDLED, merged_into__isnull=True)
        .order_by("-received_at", "-id")
        .values_list("id", flat=True)[:limit]
    )
    examples: list[Example] = []
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        rows = (
            Message.objects.filter(conversation_id__in=chunk)
            .order_by("conversation_id", "-created_at", "-id")
            .values_list("conversation_id", "direction", "text", "language")
        )
        # Newest first per conversation: a customer message is answered iff one of ours came
        # after it.
        current, answered = None, False
        for conversation_id, direction, text, language in rows.iterator(chunk_size=2000):
            if conversation_id != current:
                current, answered = conversation_id, False
            if direction == Direction.OUTBOUND:
                answered = True
            elif text:
                examples.append(Example(text, answered, str(conversation_id), language))
    return examples
