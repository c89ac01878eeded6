from django.urls import path

from . import views

app_name = "web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("account/", views.account, name="account"),
    path("account/password/", views.password_change, name="password_change"),
    path("account/2fa/setup/", views.two_factor_setup, name="2fa_setup"),
    path("account/2fa/verify/", views.two_factor_verify, name="2fa_verify"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("units/", views.unit_root, name="unit_root"),
    path("units/<str:code>/", views.unit_detail, name="unit_detail"),
    path("units/<str:code>/children/", views.unit_children, name="unit_children"),
    path("units/<str:code>/edit/", views.unit_edit, name="unit_edit"),
    path("units/<str:code>/zones/new/", views.zone_create, name="zone_create"),
    path("units/<str:code>/retire/", views.zone_retire, name="zone_retire"),
    path("units/<str:code>/reload/", views.units_reload, name="units_reload"),
    path("units/<str:code>/users/", views.unit_users, name="unit_users"),
    path("units/<str:code>/users/new/", views.user_create, name="user_create"),
    path("users/<int:user_id>/", views.user_detail, name="user_detail"),
    path("users/<int:user_id>/edit/", views.user_edit, name="user_edit"),
    path("users/<int:user_id>/deactivate/", views.user_deactivate, name="user_deactivate"),
    path("users/<int:user_id>/reactivate/", views.user_reactivate, name="user_reactivate"),
    path("users/<int:user_id>/password/", views.user_set_password, name="user_set_password"),
    path("users/<int:user_id>/roles/new/", views.role_assign, name="role_assign"),
    path("roles/<int:assignment_id>/revoke/", views.role_revoke, name="role_revoke"),
    path("audit/", views.audit_list, name="audit"),
    path("jobs/<uuid:job_id>/", views.job_progress, name="job_progress"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job_cancel"),
]
