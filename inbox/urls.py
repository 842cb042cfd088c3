from django.urls import path

from inbox import views, views_spikes

app_name = "inbox"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("team/", views.team, name="team"),
    path("conversations/<int:pk>/", views.conversation, name="conversation"),
    path("spikes/", views_spikes.spike_alerts, name="spike-alerts"),
]
