from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from console import views

app_name = "console"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="console/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    # A conversation's own address (the page opens it; unknown ids get a notice there).
    path("c/<str:session_id>", views.home, name="session"),
    path("usage/", views.usage, name="usage"),
    path("keys/", views.keys, name="keys"),
    path("status/", views.status, name="status"),
]
