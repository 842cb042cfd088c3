from django.urls import path

from inbox import notification_views, views, views_channels, views_spikes

app_name = "inbox"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("team/", views.team, name="team"),
    path("conversations/<int:pk>/", views.conversation, name="conversation"),
    path("notifications/", notification_views.notifications, name="notifications"),
    path("notifications/read/", notification_views.notifications_read, name="notifications_read"),
    path("spikes/", views_spikes.spike_alerts, name="spike-alerts"),
    path("channels/", views_channels.channels, name="channels"),
    path("channels/new/", views_channels.channel_new, name="channel_new"),
    path("channels/<int:pk>/", views_channels.channel_edit, name="channel_edit"),
]
