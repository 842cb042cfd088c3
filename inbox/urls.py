from django.urls import path

from inbox import views, views_channels

app_name = "inbox"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("team/", views.team, name="team"),
    path("conversations/<int:pk>/", views.conversation, name="conversation"),
    path("channels/", views_channels.channels, name="channels"),
    path("channels/new/", views_channels.channel_new, name="channel_new"),
    path("channels/<int:pk>/", views_channels.channel_edit, name="channel_edit"),
]
