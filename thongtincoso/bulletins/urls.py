"""/bulletins/: the staff pages of bulletins (and the notifications page)."""

from django.urls import path

from thongtincoso.notifications import views as notification_views

from . import views

app_name = "bulletins"

urlpatterns = [
    path("", views.bulletin_list, name="list"),
    path("new/", views.bulletin_create, name="create"),
    path("estimate/", views.estimate, name="estimate"),
    path("queue/", views.approval_queue, name="queue"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:delivery_id>/accept/", views.inbox_accept, name="inbox_accept"),
    path("inbox/<int:delivery_id>/decline/", views.inbox_decline, name="inbox_decline"),
    path("inbox/<int:delivery_id>/adapt/", views.inbox_adapt, name="inbox_adapt"),
    path("inbox/<int:delivery_id>/move/<str:direction>/", views.inbox_move, name="inbox_move"),
    path("settings/<str:code>/", views.editorial_settings, name="settings"),
    path("config/", views.config, name="config"),
    path("config/<str:kind>/new/", views.config_add, name="config_add"),
    path("config/<str:kind>/<int:item_id>/", views.config_update, name="config_update"),
    path("notifications/", notification_views.notification_list, name="notifications"),
    path(
        "notifications/read/",
        notification_views.notifications_mark_all_read,
        name="notifications_read",
    ),
    path(
        "notifications/<int:notification_id>/open/",
        notification_views.notification_open,
        name="notification_open",
    ),
    path("<int:pk>/", views.bulletin_detail, name="detail"),
    path("<int:pk>/edit/", views.bulletin_edit, name="edit"),
    path("<int:pk>/autosave/", views.bulletin_autosave, name="autosave"),
    path("<int:pk>/do/<str:name>/", views.bulletin_transition, name="transition"),
    path("<int:pk>/attachments/", views.attachment_add, name="attachment_add"),
    path(
        "<int:pk>/attachments/<int:attachment_id>/remove/",
        views.attachment_remove,
        name="attachment_remove",
    ),
    path("<int:pk>/revisions/", views.revision_list, name="revisions"),
    path("<int:pk>/revisions/<int:a>/<int:b>/", views.revision_diff_view, name="revision_diff"),
]
