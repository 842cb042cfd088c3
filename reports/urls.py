from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("team/", views.team_dashboard, name="team"),
    path("panel/<slug:name>/", views.panel, name="panel"),
    path("definitions/", views.definitions_page, name="definitions"),
    path("weekly/", views.weekly_report, name="weekly"),
    path("crisis/", views.crisis, name="crisis"),
    path("crisis/live/", views.crisis_live, name="crisis_live"),
]
