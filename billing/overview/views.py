"""The page after sign-in ("home"): a member's overview; the landing page or onboarding
(accounts.views.home) for everyone else."""

from django.utils import timezone
from django.views.generic import TemplateView

from accounts import views as accounts_views
from accounts.mixins import OrganizationMixin
from accounts.tenancy import current_membership
from billing.overview.selectors import overview


class OverviewView(OrganizationMixin, TemplateView):
    template_name = "billing/overview.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            overview=overview(self.membership, now=timezone.now()), **kwargs
        )


overview_page = OverviewView.as_view()


def home(request):
    if request.user.is_authenticated and current_membership(request) is not None:
        return overview_page(request)
    return accounts_views.home(request)
