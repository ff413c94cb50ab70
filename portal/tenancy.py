"""Tenant isolation, in one place.

Every customer object can be reached from an Organization. Its queryset knows the path
(`tenant_field`) and every view, viewset and selector narrows with `for_org()`; nothing
filters by organization by hand. The current organization is resolved once per request
from the member's session choice (HTML) or the credential / X-Organization header (API)
and checked against the user's memberships, never trusted as sent.
"""

from django.db import models


class TenantQuerySet(models.QuerySet):
    def for_org(self, organization):
        field = getattr(self.model, "tenant_field", "organization")
        return self.filter(**{field: organization})
