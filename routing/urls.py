from django.urls import path

from routing import views

app_name = "routing"
urlpatterns = [
    path("departments/", views.departments, name="departments"),
    path("sla/", views.sla_overview, name="sla"),
    path("sla/policies/new/", views.policy_edit, name="policy_new"),
    path("sla/policies/<int:pk>/", views.policy_edit, name="policy_edit"),
    path("sla/calendars/new/", views.calendar_edit, name="calendar_new"),
    path("sla/calendars/<int:pk>/", views.calendar_edit, name="calendar_edit"),
    path("rules/", views.rules, name="rules"),
    path("rules/try/", views.rule_try, name="rule_try"),
    path("rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/move/", views.rule_move, name="rule_move"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
]
