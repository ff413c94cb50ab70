"""Serializer fields that name an object of the requester's organization (accounts.tenancy).

Another organization's object reads as "does not exist", like any unknown id: a 400 on the
field, never a hint that it exists elsewhere.
"""

from accounts.models import User
from accounts.permissions import Action
from portal.api import SlugRelatedField


class OrganizationRelatedField(SlugRelatedField):
    """An object of the current organization, named by its public id (a value that cannot be
    one is refused without a query: portal.api.SlugRelatedField).

    With `visible_for=action`, only the objects the member may take that action on
    (`for_member`), e.g. the projects of the departments they see.
    """

    def __init__(self, *, visible_for: Action | None = None, **kwargs):
        kwargs.setdefault("slug_field", "public_id")
        self.visible_for = visible_for
        super().__init__(**kwargs)

    def get_queryset(self):
        view = self.context.get("view")
        membership = getattr(view, "membership", None)
        if membership is None:  # no request to scope by (e.g. while the schema is built)
            return super().get_queryset().none()
        return self.scope(super().get_queryset(), membership)

    def scope(self, queryset, membership):
        if self.visible_for is None:
            return queryset.for_org(membership.organization)
        return queryset.for_member(membership, self.visible_for)


class MemberEmailField(OrganizationRelatedField):
    """A member of the current organization, named by email address."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="email", queryset=User.objects.all(), **kwargs)

    def scope(self, queryset, membership):
        return queryset.filter(memberships__organization=membership.organization)
