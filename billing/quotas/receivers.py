"""Quotas follow the projects they limit."""

from django.dispatch import receiver

from billing.quotas.services import follow_project
from projects.signals import project_department_changed


@receiver(project_department_changed, dispatch_uid="billing.quotas.follow_project")
def project_moved(project, **kwargs):
    follow_project(project)
