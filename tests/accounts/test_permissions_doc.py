from io import StringIO

from django.core.management import call_command

from tests.conftest import ROOT


def test_the_permissions_doc_is_the_output_of_the_command():
    out = StringIO()
    call_command("permissions_table", stdout=out)
    written = (ROOT / "docs" / "permissions.md").read_text()
    assert written == out.getvalue(), (
        "run: python manage.py permissions_table > docs/permissions.md"
    )
