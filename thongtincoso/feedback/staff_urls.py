"""The handlers' pages, under /feedback/staff/ (namespace "feedback", see urls.py)."""

from django.urls import path

from . import staff_views as views

urlpatterns = [
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/new/", views.staff_new, name="staff_new"),
    path("staff/routing/", views.staff_routing, name="staff_routing"),
    path("staff/routing/<int:pk>/delete/", views.staff_routing_delete, name="staff_routing_delete"),
    path("staff/settings/", views.staff_unit_settings, name="staff_unit_settings"),
    path("staff/holidays/", views.staff_holidays, name="staff_holidays"),
    path(
        "staff/holidays/<int:pk>/delete/", views.staff_holiday_delete, name="staff_holiday_delete"
    ),
    path("staff/stats/", views.staff_stats, name="staff_stats"),
    path("staff/stats.csv", views.staff_stats_csv, name="staff_stats_csv"),
    path("staff/<str:code>/", views.staff_detail, name="staff_detail"),
    path("staff/<str:code>/contact/", views.staff_contact, name="staff_contact"),
    path("staff/<str:code>/photos/<int:pk>/", views.staff_photo, name="staff_photo"),
    path("staff/<str:code>/<slug:action>/", views.staff_action, name="staff_action"),
]
