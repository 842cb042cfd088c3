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
]
