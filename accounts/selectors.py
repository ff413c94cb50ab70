from collections.abc import Iterable, Iterator

from django.utils import timezone

from accounts.audit import changes_text
from accounts.audit_actions import action_label
from accounts.models import AuditEvent, Department, Invitation, Membership, Organization
from accounts.permissions import Role


def memberships_of(user):
    return Membership.objects.filter(user=user).select_related("organization", "department")


def department_subtree_ids(organization_id: int, roots: Iterable[int]) -> set[int]:
    """The given departments and every department below them, in one query."""
    return set().union(*department_subtrees(organization_id, roots).values())


def department_subtrees(organization_id: int, roots: Iterable[int]) -> dict[int, set[int]]:
    """Each given department with every department below it, in one query whatever their
    number."""
    roots = set(roots)
    if not roots:
        return {}
    children: dict[int | None, list[int]] = {}
    for dep_id, parent_id in Department.objects.filter(organization_id=organization_id).values_list(
        "id", "parent_id"
    ):
        children.setdefault(parent_id, []).append(dep_id)
    subtrees = {}
    for root in roots:
        found, stack = set(), [root]
        while stack:
            dep_id = stack.pop()
            if dep_id not in found:
                found.add(dep_id)
                stack.extend(children.get(dep_id, ()))
        subtrees[root] = found
    return subtrees


def managed_department_ids(membership: Membership) -> list[int]:
    return list(
        Department.objects.filter(
            organization_id=membership.organization_id, managers=membership.user_id
        ).values_list("id", flat=True)
    )


def verified_emails(user) -> set[str]:
    from allauth.account.models import EmailAddress

    return {
        email.lower()
        for email in EmailAddress.objects.filter(user=user, verified=True).values_list(
            "email", flat=True
        )
    }


def invitations_for(user):
    """Pending, unexpired invitations addressed to one of the user's verified addresses."""
    return Invitation.objects.filter(
        email__in=verified_emails(user),
        status=Invitation.Status.PENDING,
        expires_at__gt=timezone.now(),
    ).select_related("organization", "department")


def find_invitation(token: str) -> Invitation | None:
    """The invitation whose link carries `token` (compared by digest), or None."""
    return (
        Invitation.objects.select_related("organization", "department")
        .filter(token_digest=Invitation.digest(token))
        .first()
    )


def active_owners(organization: Organization) -> list:
    return [
        membership.user
        for membership in Membership.objects.for_org(organization)
        .filter(role=Role.OWNER, user__is_active=True)
        .select_related("user")
        .order_by("user__email")
    ]


def department_tree(departments) -> list[tuple[Department, int]]:
    """`departments` (one organization's) in tree order, each with its depth (0 for roots)."""
    departments = list(departments)
    children: dict[int | None, list[Department]] = {}
    for department in departments:
        children.setdefault(department.parent_id, []).append(department)
    ordered: list[tuple[Department, int]] = []
    stack = [(root, 0) for root in reversed(children.get(None, []))]
    while stack:
        department, depth = stack.pop()
        ordered.append((department, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(department.id, [])))
    return ordered


# The audit log as CSV (the audit page's download and the data export): the action's label in
# the current language follows its code; `changes` in the one shape (accounts/audit.py).
AUDIT_CSV_HEADER = (*AuditEvent.PUBLIC_FIELDS[:3], "action_label", *AuditEvent.PUBLIC_FIELDS[3:])


def audit_csv_rows(events) -> Iterator[tuple]:
    """Rows of AUDIT_CSV_HEADER for the AuditEvent queryset `events`, streamed in its order
    (times as datetimes: each file writes them its way)."""
    for row in events.values_list(*AuditEvent.PUBLIC_FIELDS).iterator(chunk_size=2000):
        event = dict(zip(AuditEvent.PUBLIC_FIELDS, row, strict=True))
        event["action_label"] = str(action_label(event["action"]))
        event["changes"] = changes_text(event["changes"])
        yield tuple(event[column] for column in AUDIT_CSV_HEADER)
