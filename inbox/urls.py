from django.urls import path

from inbox import views, views_channels

app_name = "inbox"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/new/", views.inbox_new_marker, name="inbox_new"),
    path("inbox/newer/", views.inbox_newer_rows, name="inbox_newer"),
    path("inbox/bulk/", views.bulk, name="bulk"),
    path("inbox/views/", views.saved_view_create, name="saved_view_create"),
    path("inbox/views/<int:pk>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("team/", views.team, name="team"),
    path("conversations/<int:pk>/", views.conversation, name="conversation"),
    path("conversations/<int:pk>/presence/", views.conversation_presence, name="presence"),
    path("conversations/<int:pk>/forward/", views.forward, name="forward"),
    path("conversations/<int:pk>/assign/", views.assign, name="assign"),
    path("conversations/<int:pk>/no-reply/", views.no_reply, name="no_reply"),
    path("conversations/<int:pk>/hide/", views.hide, name="hide"),
    path("conversations/<int:pk>/unhide/", views.unhide, name="unhide"),
    path("conversations/<int:pk>/flag/", views.flag, name="flag"),
    path("conversations/<int:pk>/priority/", views.priority, name="priority"),
    path("conversations/<int:pk>/merge/", views.merge, name="merge"),
    path("conversations/<int:pk>/split/", views.split, name="split"),
    path("conversations/<int:pk>/evidence/", views.evidence, name="evidence"),
    path(
        "conversations/<int:conversation_pk>/contacts/<int:pk>/notes/",
        views.contact_note,
        name="contact_note",
    ),
    path("house-rules/", views.house_rules, name="house_rules"),
    path("channels/", views_channels.channels, name="channels"),
    path("channels/new/", views_channels.channel_new, name="channel_new"),
    path("channels/<int:pk>/", views_channels.channel_edit, name="channel_edit"),
]
