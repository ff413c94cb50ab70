"""`{% if membership|can:"manage_members" %}`: the permission map in templates."""

from django import template

from accounts.permissions import Action, can

register = template.Library()


@register.filter(name="can")
def can_filter(membership, action: str) -> bool:
    return can(membership, Action(action))
