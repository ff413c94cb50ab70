from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.health import run_checks


def home(request):
    return render(request, "portal/home.html")


@never_cache
@require_GET
def healthz(request):
    report = run_checks()
    return JsonResponse(report, status=200 if report["ok"] else 503)
