"""The one permission map: which role may do what, and over which departments.

HTML views, the API, templates (the `can` filter) and services all ask `scope_for()` /
`can()`; nothing else decides.

- owner and admin act on the whole organization; billing and viewer read all of it;
- a developer acts within their home department's subtree (the whole organization when
  they have no department);
- a department manager, whatever their role, may also see and manage the projects, keys
  and project and key quotas of the subtrees they manage, and ask for more quota there;
- an object of no department is reached only by a scope over the whole organization.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    BILLING = "billing", _("Billing")
    DEVELOPER = "developer", _("Developer")
    VIEWER = "viewer", _("Viewer")


class Action(models.TextChoices):
    VIEW_ORGANIZATION = "view_organization", _("View the organization")
    MANAGE_ORGANIZATION = "manage_organization", _("Edit organization settings")
    VIEW_MEMBERS = "view_members", _("View members and departments")
    MANAGE_MEMBERS = "manage_members", _("Invite, change and remove members")
    MANAGE_OWNERS = "manage_owners", _("Grant or remove the owner role")
    MANAGE_DEPARTMENTS = "manage_departments", _("Create, move and delete departments")
    VIEW_AUDIT = "view_audit", _("Browse and export the audit log")
    EXPORT_DATA = "export_data", _("Export all of the organization's data")
    VIEW_PROJECTS = "view_projects", _("View projects and API keys")
    MANAGE_PROJECTS = "manage_projects", _("Create, edit and archive projects")
    MANAGE_KEYS = "manage_keys", _("Create, rotate and revoke API keys")
    VIEW_USAGE = "view_usage", _("View usage and costs")
    MANAGE_QUOTAS = "manage_quotas", _("Set quotas and alerts of projects and API keys")
    MANAGE_DEPARTMENT_QUOTAS = (
        "manage_department_quotas",
        _("Set quotas and alerts of departments and of the organization"),
    )
    REQUEST_QUOTA = "request_quota", _("Ask for a quota increase")
    DECIDE_QUOTA_REQUESTS = "decide_quota_requests", _("Approve or reject quota increase requests")
    VIEW_BILLING = "view_billing", _("View balance, invoices and statements")
    MANAGE_BILLING = "manage_billing", _("Manage billing details and fapiao requests")


_ALL_ROLES = set(Role)
PERMISSIONS: dict[Action, set[Role]] = {
    Action.VIEW_ORGANIZATION: _ALL_ROLES,
    Action.MANAGE_ORGANIZATION: {Role.OWNER, Role.ADMIN},
    Action.VIEW_MEMBERS: _ALL_ROLES,
    Action.MANAGE_MEMBERS: {Role.OWNER, Role.ADMIN},
    Action.MANAGE_OWNERS: {Role.OWNER},
    Action.MANAGE_DEPARTMENTS: {Role.OWNER, Role.ADMIN},
    Action.VIEW_AUDIT: {Role.OWNER, Role.ADMIN},
    Action.EXPORT_DATA: {Role.OWNER, Role.ADMIN},
    Action.VIEW_PROJECTS: _ALL_ROLES,
    Action.MANAGE_PROJECTS: {Role.OWNER, Role.ADMIN},
    Action.MANAGE_KEYS: {Role.OWNER, Role.ADMIN, Role.DEVELOPER},
    Action.VIEW_USAGE: _ALL_ROLES,
    Action.MANAGE_QUOTAS: {Role.OWNER, Role.ADMIN},
    Action.MANAGE_DEPARTMENT_QUOTAS: {Role.OWNER, Role.ADMIN},
    Action.REQUEST_QUOTA: {Role.OWNER, Role.ADMIN, Role.DEVELOPER},
    Action.DECIDE_QUOTA_REQUESTS: {Role.OWNER, Role.ADMIN},
    Action.VIEW_BILLING: {Role.OWNER, Role.ADMIN, Role.BILLING},
    Action.MANAGE_BILLING: {Role.OWNER, Role.ADMIN, Role.BILLING},
}

# Roles whose rights span the whole organization rather than a department subtree.
ORG_WIDE_ROLES = {Role.OWNER, Role.ADMIN, Role.BILLING, Role.VIEWER}

# What managing a department adds, inside the managed subtrees, whatever the role.
MANAGER_ACTIONS = {
    Action.VIEW_PROJECTS,
    Action.MANAGE_PROJECTS,
    Action.MANAGE_KEYS,
    Action.VIEW_USAGE,
    Action.MANAGE_QUOTAS,
    Action.REQUEST_QUOTA,
}


class Everywhere:
    """The scope of an action allowed on the whole organization."""

    def __contains__(self, department_id) -> bool:
        return True

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "Everywhere"


EVERYWHERE = Everywhere()
_ANYWHERE = object()  # can()'s question when no department is named


def role_allows(role: str, action: Action) -> bool:
    return Role(role) in PERMISSIONS[action]


def scope_for(membership, action: Action) -> Everywhere | frozenset[int]:
    """Where `membership` may take `action`: EVERYWHERE or a set of department ids (maybe empty).

    Remembered on the membership object (one per request) for its current role and home
    department: a page asks several times, and a department scope costs tree queries."""
    if not membership:  # None, or a template's lazy None
        return frozenset()
    remembered = membership.__dict__.setdefault("_scopes", {})
    key = (action, membership.role, membership.department_id)
    if key not in remembered:
        remembered[key] = _scope_for(membership, action)
    return remembered[key]


def _scope_for(membership, action: Action) -> Everywhere | frozenset[int]:
    # selectors import the models, which import this module (Role)
    from accounts.selectors import department_subtree_ids, managed_department_ids

    departments: set[int] = set()
    if role_allows(membership.role, action):
        if membership.role in ORG_WIDE_ROLES or membership.department_id is None:
            return EVERYWHERE
        departments |= department_subtree_ids(
            membership.organization_id, [membership.department_id]
        )
    if action in MANAGER_ACTIONS:
        departments |= department_subtree_ids(
            membership.organization_id, managed_department_ids(membership)
        )
    return frozenset(departments)


def can(membership, action: Action, department_id=_ANYWHERE) -> bool:
    """May `membership` take `action`?

    - `department_id` left out: anywhere at all (e.g. whether to show a "new" button);
    - a department id: on an object of that department;
    - None: on an object of no department, which only a scope over the whole organization
      reaches (a project without department, for example).
    """
    scope = scope_for(membership, action)
    if department_id is _ANYWHERE:
        return bool(scope)
    if department_id is None:
        return scope is EVERYWHERE
    return department_id in scope
