import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_a_user_is_created_by_email_alone():
    user = User.objects.create_user("Someone@Example.COM", "correct horse battery")
    assert user.email == "someone@example.com"
    assert user.check_password("correct horse battery")
    assert not user.is_staff
    assert User.USERNAME_FIELD == "email"


def test_a_superuser_is_staff():
    user = User.objects.create_superuser("root@example.com", "correct horse battery")
    assert user.is_staff and user.is_superuser


def test_the_production_hasher_is_argon2(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    user = User.objects.create_user("argon@example.com", "correct horse battery")
    assert user.password.startswith("argon2")
