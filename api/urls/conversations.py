"""Routes: conversations."""

urlpatterns: list = []
