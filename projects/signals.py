"""What projects announce to the apps above them, which projects must not import."""

from django.dispatch import Signal

# Sent inside the transaction that moved `project` to another department (quotas follow it).
project_department_changed = Signal()
