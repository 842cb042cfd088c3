from django.urls import path

from inbox import notification_views, views, views_spikes

app_name = "inbox"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("team/", views.team, name="team"),
    path("conversations/<int:pk>/", views.conversation, name="conversation"),
    path("notifications/", notification_views.notifications, name="notifications"),
    path("notifications/read/", notification_views.notifications_read, name="notifications_read"),
    path("spikes/", views_spikes.spike_alerts, name="spike-alerts"),
]
