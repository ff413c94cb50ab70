"""The one permission map: which role may do what. HTML views and the API both ask here.

Department managers get, in addition to their role, the right to manage projects, keys and
quotas inside their department's subtree (see accounts.selectors).
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
    VIEW_PROJECTS = "view_projects", _("View projects and API keys")
    MANAGE_PROJECTS = "manage_projects", _("Create, edit and archive projects")
    MANAGE_KEYS = "manage_keys", _("Create, rotate and revoke API keys")
    VIEW_USAGE = "view_usage", _("View usage and costs")
    MANAGE_QUOTAS = "manage_quotas", _("Set quotas and alerts")
    REQUEST_QUOTA = "request_quota", _("Ask for a quota increase")
    VIEW_BILLING = "view_billing", _("View balance, invoices and statements")
    MANAGE_BILLING = "manage_billing", _("Manage billing details and fapiao requests")


_ALL = set(Role)
PERMISSIONS: dict[Action, set[Role]] = {
    Action.VIEW_ORGANIZATION: _ALL,
    Action.MANAGE_ORGANIZATION: {Role.OWNER, Role.ADMIN},
    Action.VIEW_MEMBERS: _ALL,
    Action.MANAGE_MEMBERS: {Role.OWNER, Role.ADMIN},
    Action.MANAGE_OWNERS: {Role.OWNER},
    Action.MANAGE_DEPARTMENTS: {Role.OWNER, Role.ADMIN},
    Action.VIEW_AUDIT: {Role.OWNER, Role.ADMIN},
    Action.VIEW_PROJECTS: _ALL,
    Action.MANAGE_PROJECTS: {Role.OWNER, Role.ADMIN},
    Action.MANAGE_KEYS: {Role.OWNER, Role.ADMIN, Role.DEVELOPER},
    Action.VIEW_USAGE: _ALL,
    Action.MANAGE_QUOTAS: {Role.OWNER, Role.ADMIN},
    Action.REQUEST_QUOTA: {Role.OWNER, Role.ADMIN, Role.DEVELOPER},
    Action.VIEW_BILLING: {Role.OWNER, Role.ADMIN, Role.BILLING},
    Action.MANAGE_BILLING: {Role.OWNER, Role.ADMIN, Role.BILLING},
}

# Actions a department manager may take inside their own subtree whatever their role.
MANAGER_ACTIONS = {Action.MANAGE_PROJECTS, Action.MANAGE_KEYS, Action.MANAGE_QUOTAS}


def role_allows(role: str, action: Action) -> bool:
    return Role(role) in PERMISSIONS[action]
