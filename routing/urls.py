from django.urls import path

from routing import views

app_name = "routing"
urlpatterns = [
    path("departments/", views.departments, name="departments"),
    path("rules/", views.rules, name="rules"),
    path("rules/try/", views.rule_try, name="rule_try"),
    path("rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/move/", views.rule_move, name="rule_move"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
]
