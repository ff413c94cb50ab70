from accounts.models import Department
from accounts.permissions import EVERYWHERE, Action, scope_for


def may(membership, action: Action, department_id: int | None) -> bool:
    """May `membership` take `action` on an object of this department (None: no department)?

    Unlike accounts.permissions.can(), a missing department does not mean "anywhere": an
    object that belongs to no department is for organization-wide roles only.
    """
    scope = scope_for(membership, action)
    return scope is EVERYWHERE if department_id is None else department_id in scope


def departments_for(membership, action: Action):
    """The departments in which `membership` may take `action` (e.g. to create a project)."""
    departments = Department.objects.for_org(membership.organization)
    scope = scope_for(membership, action)
    return departments if scope is EVERYWHERE else departments.filter(id__in=scope)
