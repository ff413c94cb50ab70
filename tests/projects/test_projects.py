import pytest
from django.core.exceptions import ValidationError

from accounts.services import delete_department
from projects.models import Project
from tests.factories import as_actor

pytestmark = pytest.mark.django_db


def test_a_department_that_still_owns_a_project_cannot_be_deleted(owner, project_b, departments):
    with pytest.raises(ValidationError, match="still owns"):
        delete_department(actor=as_actor(owner), department=departments["B"])
    assert Project.objects.filter(pk=project_b.pk, department=departments["B"]).exists()
