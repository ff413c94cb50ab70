"""The organization-wide key list's filters, shared by the page (/keys/) and the API."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Department
from accounts.permissions import Action
from accounts.tenancy import current_membership
from projects.models import ApiKey, Project


def in_state(state: str, now=None) -> Q:
    """Keys whose `ApiKey.state` is `state` at `now`, as a query (the property's mirror)."""
    now = now or timezone.now()
    revoked = Q(revoked_at__lte=now)
    expired = ~revoked & Q(expires_at__lte=now)
    in_service = ~revoked & ~expired
    return {
        ApiKey.State.REVOKED: revoked,
        ApiKey.State.EXPIRED: expired,
        ApiKey.State.ROTATING: in_service & Q(revoked_at__isnull=False),
        ApiKey.State.ACTIVE: in_service & Q(revoked_at__isnull=True),
    }[state]


class ApiKeyFilter(django_filters.FilterSet):
    """Choices come from what the requesting member may see (none without a membership)."""

    q = django_filters.CharFilter(label=_("Name or prefix"), method="filter_text")
    project = django_filters.ModelChoiceFilter(
        label=_("Project"), queryset=Project.objects.none(), to_field_name="public_id"
    )
    department = django_filters.ModelChoiceFilter(
        label=_("Department"),
        field_name="project__department",
        queryset=Department.objects.none(),
        to_field_name="public_id",
    )
    status = django_filters.ChoiceFilter(
        label=_("Status"), choices=ApiKey.State.choices, method="filter_status"
    )
    created_by = django_filters.ModelChoiceFilter(
        label=_("Creator"), queryset=get_user_model().objects.none(), to_field_name="public_id"
    )

    class Meta:
        model = ApiKey
        fields = ["q", "project", "department", "status", "created_by"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        membership = current_membership(request) if request is not None else None
        if membership is None:
            return
        projects = Project.objects.for_member(membership, Action.VIEW_PROJECTS)
        self.filters["project"].queryset = projects
        self.filters["department"].queryset = Department.objects.filter(
            id__in=projects.values("department_id")
        )
        self.filters["created_by"].queryset = get_user_model().objects.filter(
            id__in=ApiKey.objects.filter(project__in=projects).values("created_by_id")
        )

    def filter_text(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(prefix__startswith=value.strip()))

    def filter_status(self, queryset, name, value):
        return queryset.filter(in_state(value))
