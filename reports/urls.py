from django.urls import path

from reports import views
from reports.crisis import views as clusters

app_name = "reports"

urlpatterns = [
    path("team/", views.team_dashboard, name="team"),
    path("panel/<slug:name>/", views.panel, name="panel"),
    path("definitions/", views.definitions_page, name="definitions"),
    path("weekly/", views.weekly_report, name="weekly"),
    path("crisis/", views.crisis, name="crisis"),
    path("crisis/live/", views.crisis_live, name="crisis_live"),
    path("crisis/clusters/", clusters.cluster_list, name="crisis_clusters"),
    path("crisis/clusters/<int:pk>/", clusters.cluster_detail, name="crisis_cluster"),
    path("crisis/clusters/<int:pk>/take-out/", clusters.cluster_take_out, name="crisis_take_out"),
    path("crisis/clusters/<int:pk>/act/", clusters.cluster_act, name="crisis_cluster_act"),
    path(
        "crisis/clusters/<int:pk>/actions/<int:action_pk>/",
        clusters.cluster_action,
        name="crisis_cluster_action",
    ),
]
