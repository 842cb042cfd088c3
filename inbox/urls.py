from django.urls import path

from inbox import notification_views, views, views_channels, views_spikes, views_team

app_name = "inbox"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("conversations/<int:pk>/", views.conversation, name="conversation"),
    path("notifications/", notification_views.notifications, name="notifications"),
    path("notifications/read/", notification_views.notifications_read, name="notifications_read"),
    path("spikes/", views_spikes.spike_alerts, name="spike-alerts"),
    path("channels/", views_channels.channels, name="channels"),
    path("channels/new/", views_channels.channel_new, name="channel_new"),
    path("channels/<int:pk>/", views_channels.channel_edit, name="channel_edit"),
    # Department teams (views_team.py)
    path("team/", views_team.team, name="team"),
    path("team/export.csv", views_team.team_export, name="team_export"),
    path("team/reviews/", views_team.reviews, name="team_reviews"),
    path("team/conversations/<int:pk>/", views_team.team_conversation, name="team_conversation"),
    path("team/conversations/<int:pk>/workspace/", views_team.workspace, name="team_workspace"),
    path("team/conversations/<int:pk>/claim/", views_team.claim, name="team_claim"),
    path("team/conversations/<int:pk>/unclaim/", views_team.unclaim, name="team_unclaim"),
    path("team/conversations/<int:pk>/reassign/", views_team.reassign, name="team_reassign"),
    path("team/conversations/<int:pk>/hand-back/", views_team.hand_back, name="team_hand_back"),
    path("team/conversations/<int:pk>/close/", views_team.close, name="team_close"),
    path("team/conversations/<int:pk>/waiting/", views_team.waiting, name="team_waiting"),
    path("team/conversations/<int:pk>/notes/", views_team.note_add, name="note_add"),
    path("team/conversations/<int:pk>/canned/", views_team.canned_search, name="composer_canned"),
    path("team/conversations/<int:pk>/preview/", views_team.preview, name="composer_preview"),
    path("team/conversations/<int:pk>/replies/", views_team.reply_save, name="reply_save"),
    path("replies/<int:reply_id>/approve/", views_team.reply_approve, name="reply_approve"),
    path("replies/<int:reply_id>/send-back/", views_team.reply_send_back, name="reply_send_back"),
    path("replies/<int:reply_id>/retry/", views_team.reply_retry, name="reply_retry"),
    path("replies/<int:reply_id>/discard/", views_team.reply_discard, name="reply_discard"),
]
