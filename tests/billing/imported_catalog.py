"""The catalog as `manage.py import_catalog` builds it from the genai-prices data bundled with
the package (offline), imported once per test module and rolled back after it. Use it with
`pytest.mark.usefixtures("imported_catalog")`."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

# Before the usage acceptance window (35 days), so every instant a test prices is covered.
IMPORTED_DAYS_AGO = 40


@pytest.fixture(scope="module")
def imported_catalog(django_db_setup, django_db_blocker):
    since = (timezone.now() - timedelta(days=IMPORTED_DAYS_AGO)).date()
    # One transaction around the module: each test runs in a savepoint inside it.
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("import_catalog", "--effective-from", since.isoformat(), stdout=StringIO())
        yield
        transaction.set_rollback(True)
