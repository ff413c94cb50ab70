from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.selectors import invitations_for
from portal.health import run_checks
from portal.tenancy import current_membership


def home(request):
    """Public landing page; a member's organization overview; otherwise onboarding."""
    context = {}
    if request.user.is_authenticated and current_membership(request) is None:
        context["invitations"] = invitations_for(request.user)
    return render(request, "portal/home.html", context)


@never_cache
@require_GET
def healthz(request):
    report = run_checks()
    return JsonResponse(report, status=200 if report["ok"] else 503)
