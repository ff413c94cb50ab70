"""Print docs/permissions.md from accounts.permissions (a test keeps the file equal to it)."""

from django.core.management.base import BaseCommand
from django.utils import translation

from accounts.permissions import MANAGER_ACTIONS, ORG_WIDE_ROLES, PERMISSIONS, Action, Role


def permissions_markdown() -> str:
    roles = list(Role)
    developer_scoped = [role.label for role in roles if role not in ORG_WIDE_ROLES]
    lines = [
        "# Who may do what",
        "",
        "Generated from `accounts/permissions.py` by `python manage.py permissions_table`;",
        "tests/accounts/test_permissions_doc.py fails when this file and the code differ.",
        "",
        "| action | " + " | ".join(str(role.label) for role in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for action in Action:
        marks = " | ".join("yes" if role in PERMISSIONS[action] else "—" for role in roles)
        lines.append(f"| {action.label} (`{action.value}`) | {marks} |")
    lines += [
        "",
        "## Departments",
        "",
        f"- {', '.join(map(str, developer_scoped))}: acts only within their home department's "
        "subtree (on the whole organization when they have no department).",
        "- A department manager, whatever their role, may also take these actions inside the "
        "subtrees they manage:",
        *(
            f"  - {action.label} (`{action.value}`)"
            for action in Action
            if action in MANAGER_ACTIONS
        ),
        "- An object of no department (a project without department, its keys, an "
        "organization quota) is reached only by those who act on the whole organization.",
        "",
        "## The overview (the page after sign-in)",
        "",
        f"- Spend, forecast, the daily chart, top models and projects, quotas and quota alerts: "
        f"in the scope of {Action.VIEW_USAGE.label} (`{Action.VIEW_USAGE.value}`), so a "
        "developer sees their department's subtree, and the organization's monthly cap only "
        "those with an organization-wide scope.",
        f"- The balance or credit: only with {Action.VIEW_BILLING.label} "
        f"(`{Action.VIEW_BILLING.value}`).",
        f'- "Create API key" and the getting-started links: only for the actions the member '
        f"may take ({Action.MANAGE_KEYS.label}, `{Action.MANAGE_KEYS.value}`, and so on); the "
        "checklist itself, the status banners and the member's own unread notifications: "
        "everyone.",
        "",
    ]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Print the role x action table (docs/permissions.md)."

    def handle(self, *args, **options):
        with translation.override("en"):
            self.stdout.write(permissions_markdown(), ending="")
