from collections.abc import Iterable

from accounts.models import Department, Membership


def memberships_of(user):
    return Membership.objects.filter(user=user).select_related("organization", "department")


def department_subtree_ids(organization_id: int, roots: Iterable[int]) -> set[int]:
    """The given departments and every department below them, in one query."""
    roots = set(roots)
    if not roots:
        return set()
    children: dict[int | None, list[int]] = {}
    for dep_id, parent_id in Department.objects.filter(organization_id=organization_id).values_list(
        "id", "parent_id"
    ):
        children.setdefault(parent_id, []).append(dep_id)
    found, stack = set(), list(roots)
    while stack:
        dep_id = stack.pop()
        if dep_id not in found:
            found.add(dep_id)
            stack.extend(children.get(dep_id, ()))
    return found


def managed_department_ids(membership: Membership) -> list[int]:
    return list(
        Department.objects.filter(
            organization_id=membership.organization_id, managers=membership.user_id
        ).values_list("id", flat=True)
    )
