"""Routes: conversations, their actions, and replies."""

from django.urls import path

from api.views import conversations as c
from api.views import replies as r

urlpatterns = [
    path("conversations/", c.conversation_list, name="conversation-list"),
    path("conversations/<int:pk>/", c.conversation_detail, name="conversation-detail"),
    path("conversations/<int:pk>/forward/", c.forward, name="conversation-forward"),
    path("conversations/<int:pk>/assign/", c.assign, name="conversation-assign"),
    path("conversations/<int:pk>/hide/", c.hide, name="conversation-hide"),
    path("conversations/<int:pk>/labels/", c.labels, name="conversation-labels"),
    path(
        "conversations/<int:pk>/no-reply-needed/",
        c.no_reply_needed,
        name="conversation-no-reply-needed",
    ),
    path("conversations/<int:pk>/claim/", c.claim, name="conversation-claim"),
    path("conversations/<int:pk>/close/", c.close, name="conversation-close"),
    path("conversations/<int:pk>/waiting/", c.waiting, name="conversation-waiting"),
    path("conversations/<int:pk>/replies/", r.draft, name="conversation-reply-draft"),
    path("replies/<int:pk>/", r.reply_detail, name="reply-detail"),
    path("replies/<int:pk>/submit/", r.submit, name="reply-submit"),
    path("replies/<int:pk>/approve/", r.approve, name="reply-approve"),
]
