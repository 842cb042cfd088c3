"""Routes: directory (contacts, teams, channels) and the dashboard figures."""

from django.urls import path

from api.views import directory, figures

urlpatterns = [
    path("contacts/", directory.contact_list, name="contacts"),
    path("contacts/<int:pk>/", directory.contact_detail, name="contact"),
    path("teams/", directory.team_list, name="teams"),
    path("teams/<int:pk>/", directory.team_detail, name="team"),
    path("channels/", directory.channel_list, name="channels"),
    path("figures/", figures.figures, name="figures"),
]
