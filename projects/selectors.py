from accounts.models import Department
from accounts.permissions import EVERYWHERE, Action, scope_for


def departments_for(membership, action: Action):
    """The departments in which `membership` may take `action` (e.g. to create a project)."""
    departments = Department.objects.for_org(membership.organization)
    scope = scope_for(membership, action)
    return departments if scope is EVERYWHERE else departments.filter(id__in=scope)
