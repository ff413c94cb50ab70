"""Demo data for `make run`: a verified customer owner, a staff member, one organization.

Idempotent: running it again changes nothing. Never run it against production.
"""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Department, Membership, Organization, User
from accounts.permissions import Role
from billing.models import CatalogModel, LedgerEntry

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed to the developer on purpose
DEMO_OWNER = "owner@demo.example"
DEMO_STAFF = "staff@demo.example"
DEMO_FILED_MODELS = [
    "deepseek/deepseek-chat",
    "deepseek/deepseek-reasoner",
    "moonshotai/kimi-k2",
    "qwen/qwen-max",
    "qwen/qwen-plus",
    "zhipuai/GLM-4-Plus",
    "minimax/MiniMax-M2",
]


class Command(BaseCommand):
    help = "Load demo users and an organization (development only)."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run with DJANGO_ENV=production.")
        with transaction.atomic():
            owner = self._user(DEMO_OWNER, "Demo Owner")
            self._user(DEMO_STAFF, "Demo Staff", is_staff=True, is_superuser=True)
            organization, _ = Organization.objects.get_or_create(
                uscc="91110000600037341L",
                defaults={
                    "kind": Organization.Kind.ENTERPRISE,
                    "name": "Demo Tech",
                    "legal_name": "示例科技有限公司",
                    "contact_name": "张伟",
                    "contact_phone": "+86 10 5555 0100",
                    "address": "北京市海淀区中关村大街1号",
                    "billing_email": "finance@demo.example",
                    "status": Organization.Status.ACTIVE,
                },
            )
            research, _ = Department.objects.get_or_create(
                organization=organization, code="RND", defaults={"name": "Research"}
            )
            Membership.objects.get_or_create(
                organization=organization,
                user=owner,
                defaults={"role": Role.OWNER, "department": research},
            )
            # Prepaid: an opening balance, so that the gateway does not refuse for lack of funds.
            LedgerEntry.objects.get_or_create(
                organization=organization,
                kind=LedgerEntry.Kind.TOP_UP,
                reference="DEMO-OPENING-BALANCE",
                defaults={"amount": 1000, "currency": organization.currency},
            )
        # A full shelf: the catalog from genai-prices (idempotent), a few models marked as filed.
        call_command("import_catalog", stdout=self.stdout)
        CatalogModel.objects.filter(model_id__in=DEMO_FILED_MODELS).update(is_filed=True)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login: {DEMO_OWNER} / {DEMO_PASSWORD} (customer owner), "
                f"{DEMO_STAFF} / {DEMO_PASSWORD} (staff)"
            )
        )

    def _user(self, email, full_name, **flags):
        user, created = User.objects.get_or_create(
            email=email, defaults={"full_name": full_name, **flags}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        return user
