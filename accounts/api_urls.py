"""REST API of the accounts app, under /api/v1/."""

from django.urls import path

from accounts import api
from portal.api import Router

router = Router()
router.register("members", api.MemberViewSet, basename="member")
router.register("invitations", api.InvitationViewSet, basename="invitation")
router.register("departments", api.DepartmentViewSet, basename="department")
router.register("audit-events", api.AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path(
        "organization/",
        api.OrganizationViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="organization-current",
    ),
    *router.urls,
]
