"""/radio/: stations and their week, emergencies, devices, reports, and the e-board kiosk."""

from django.urls import path

from . import views

app_name = "radio"

urlpatterns = [
    path("", views.index, name="index"),
    path("stations/<str:code>/", views.station_detail, name="station"),
    path("stations/<str:code>/settings/", views.station_settings, name="station_settings"),
    path("stations/<str:code>/rules/", views.station_rules, name="station_rules"),
    path("stations/<str:code>/queue/", views.queue_reorder, name="queue_reorder"),
    path("stations/<str:code>/queue/move/", views.queue_move, name="queue_move"),
    path("stations/<str:code>/slots/new/", views.slot_create, name="slot_create"),
    path("stations/<str:code>/slots/<int:slot_id>/", views.slot_edit, name="slot_edit"),
    path("stations/<str:code>/slots/<int:slot_id>/delete/", views.slot_delete, name="slot_delete"),
    path("rules/<str:code>/", views.unit_rules, name="unit_rules"),
    path("emergencies/", views.emergency_list, name="emergencies"),
    path("emergencies/new/", views.emergency_new, name="emergency_new"),
    path("emergencies/<int:pk>/", views.emergency_detail, name="emergency"),
    path("emergencies/<int:pk>/<str:verb>/", views.emergency_act, name="emergency_act"),
    path("devices/", views.device_list, name="devices"),
    path("devices/new/", views.device_new, name="device_new"),
    path("devices/<str:code>/", views.device_detail, name="device"),
    path("devices/<str:code>/command/", views.device_command, name="device_command"),
    path("devices/<str:code>/enrol/", views.device_reenrol, name="device_reenrol"),
    path("devices/<str:code>/revoke/", views.device_revoke, name="device_revoke"),
    path("reports/", views.reports, name="reports"),
    path("kiosk/", views.kiosk, name="kiosk"),
]
