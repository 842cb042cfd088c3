from django.urls import path

from inbox import views

app_name = "inbox"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("team/", views.team, name="team"),
    path("conversations/<int:pk>/", views.conversation, name="conversation"),
]
