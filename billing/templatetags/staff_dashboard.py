from django import template

from billing.dashboard import staff_dashboard as build_staff_dashboard

register = template.Library()


@register.simple_tag
def staff_dashboard():
    """The staff console's opening figures (billing/dashboard.py), for admin/staff_index.html."""
    return build_staff_dashboard()
