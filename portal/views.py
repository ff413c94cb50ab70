from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.selectors import invitations_for
from accounts.tenancy import current_membership
from portal.health import run_checks


def home(request):
    """Public landing page; a member's organization overview; otherwise onboarding."""
    context = {}
    if request.user.is_authenticated and current_membership(request) is None:
        context["invitations"] = invitations_for(request.user)
    return render(request, "portal/home.html", context)


@require_GET
def favicon(request):
    """Browsers ask every site for /favicon.ico, the staff console's pages included. The
    static URL is looked up per request: in production it names a hashed file."""
    return redirect(static("portal/favicon.svg"))


@never_cache
@require_GET
def healthz(request):
    report = run_checks()
    return JsonResponse(report, status=200 if report["ok"] else 503)
