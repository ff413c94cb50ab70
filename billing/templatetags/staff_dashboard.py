from django import template

from billing.dashboard import staff_dashboard as build_staff_dashboard
from billing.managed.customers import operator_queue as build_operator_queue

register = template.Library()


@register.simple_tag
def staff_dashboard():
    """The staff console's opening figures (billing/dashboard.py), for admin/staff_index.html."""
    return build_staff_dashboard()


@register.simple_tag
def operator_queue(user):
    """Proposals for `user` to decide, unacknowledged settlements (billing.managed)."""
    return build_operator_queue(user)
