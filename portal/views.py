from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.health import run_checks


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
