"""Organization pages, under /organization/."""

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("new/", views.OrganizationCreateView.as_view(), name="create"),
    path("settings/", views.OrganizationSettingsView.as_view(), name="settings"),
    path("switch/", views.SwitchOrganizationView.as_view(), name="switch"),
    path("members/", views.MemberListView.as_view(), name="members"),
    path("members/<public_id:member>/", views.MemberUpdateView.as_view(), name="member"),
    path(
        "members/<public_id:member>/remove/", views.MemberRemoveView.as_view(), name="member_remove"
    ),
    path("invitations/", views.InvitationListView.as_view(), name="invitations"),
    path(
        "invitations/<public_id:invitation>/resend/",
        views.InvitationResendView.as_view(),
        name="invitation_resend",
    ),
    path(
        "invitations/<public_id:invitation>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
    path(
        "invitations/<public_id:invitation>/accept/",
        views.JoinView.as_view(),
        name="invitation_accept",
    ),
    path("join/<str:token>/", views.JoinView.as_view(), name="join"),
    path("departments/", views.DepartmentTreeView.as_view(), name="departments"),
    path("departments/new/", views.DepartmentCreateView.as_view(), name="department_create"),
    path(
        "departments/<public_id:department>/",
        views.DepartmentUpdateView.as_view(),
        name="department",
    ),
    path(
        "departments/<public_id:department>/delete/",
        views.DepartmentDeleteView.as_view(),
        name="department_delete",
    ),
    path("audit/", views.AuditLogView.as_view(), name="audit"),
    path("audit/export.csv", views.AuditExportView.as_view(), name="audit_export"),
]
