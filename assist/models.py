"""Sentence vectors of conversations and canned answers, kept in the database so the search
index (a file under VAR_DIR, assist.vectors) can always be rebuilt from them."""

from django.db import models


class ConversationVector(models.Model):
    """The customer's text of a conversation as a vector; written only by the worker."""

    conversation = models.OneToOneField(
        "inbox.Conversation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    # float32 little-endian, assist.vectors.DIM values, unit length.
    vector = models.BinaryField()
    # Of the text that was embedded: a new customer message re-embeds only if the text changed.
    digest = models.CharField(max_length=32)
    # A sent reply exists: only answered conversations are suggested (they are in the index).
    answered = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # Uses index: the index rebuild reads the answered rows by primary key, in pages.
            models.Index(
                fields=["conversation"],
                name="assist_answered_idx",
                condition=models.Q(answered=True),
            ),
        ]

    def __str__(self) -> str:
        return f"vector of conversation {self.conversation_id}"


class CannedVector(models.Model):
    """A canned answer's title and text as a vector (they are few: ranked in the process)."""

    answer = models.OneToOneField(
        "inbox.CannedAnswer", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    vector = models.BinaryField()
    digest = models.CharField(max_length=32)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"vector of canned answer {self.answer_id}"
