"""Tenancy isolation: every route, tried by the owner of organization B on organization A's data.

The routes come from the URL resolver, so a route added by any app is walked without
changing this file. Each one is requested with GET, POST, PUT, PATCH and DELETE (and, for the
API, once more with an X-Organization header naming A), its URL kwargs filled with real ids
of A's objects. Then:

- a route of ours that names an object of A answers an error (>= 400), never a success;
- no response shows A's names (every A object is named with MARKER) or A's public ids
  (other than the ids the request itself sent);
- A's rows are unchanged, and no row outside A points at one of A's rows;
- the staff admin sends B's owner to the admin login.

A route whose URL has a kwarg that is not registered below FAILS. To add yours:

- a route of our apps (its view lives in accounts/, projects/, billing/, portal/): add the
  kwarg to OBJECT_KWARGS with a function that makes (or finds) one of A's objects in the
  world `a` and returns the value to put in the URL, e.g.
      "project": lambda a: ProjectFactory(
          organization=a.organization, department=a.department, name=a.name("project")
      ).public_id,
  Every registered object is created for every route, so list routes are checked against it.
- a route of a third-party app (allauth, admin ...): add the kwarg to THIRD_PARTY_KWARGS.
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from uuid import uuid4

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import models
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.utils.regex_helper import normalize

from accounts import services
from accounts.audit_trail import Actor
from accounts.models import (
    AuditEvent,
    DataExport,
    Department,
    Invitation,
    Membership,
    Organization,
    User,
)
from accounts.permissions import Role
from accounts.tenancy import TenantQuerySet
from billing.catalog import services as billing_services
from billing.catalog.models import ModelPolicy
from billing.invoicing.consolidated_models import ConsolidatedBilling, OperatorCharge
from billing.invoicing.fapiao_models import FapiaoDocument
from billing.invoicing.models import FapiaoProfile, FapiaoRequest, Invoice
from billing.packages import services as packages
from billing.packages.models import Offer, OfferTerms
from billing.payments.models import Payment
from billing.quotas import services as quotas
from billing.quotas.models import Quota
from billing.sales import services as sales
from exports import services as exports
from notifications import webhooks
from notifications.models import Notification, WebhookDelivery
from notifications.services import notify
from projects import services as projects_services
from tests.accounts.webauthn_key import key_set_up_earlier
from tests.conftest import closed_port
from tests.factories import (
    CatalogModelFactory,
    InvoiceFactory,
    MembershipFactory,
    OrganizationFactory,
    QuotaAlertFactory,
    QuotaPeriodFactory,
    VerifiedUserFactory,
)

CLOSED_PORT = closed_port()  # webhook URLs of these tests: on this machine, nothing listens

MARKER = "zqxjk"  # in every name of organization A's objects; never in B's pages
OUR_APPS = {"accounts", "billing", "exports", "notifications", "portal", "projects", "relay"}
METHODS = ["get", "post", "put", "patch", "delete"]

# kwarg -> a function of the world `a` returning the value for the URL (see the docstring).
OBJECT_KWARGS = {
    "organization": lambda a: a.organization.public_id,
    "member": lambda a: a.member.public_id,
    "department": lambda a: a.department.public_id,
    "invitation": lambda a: a.invitation.public_id,
    "token": lambda a: a.invitation_token,
    "event": lambda a: a.audit_event.public_id,
    "project": lambda a: a.project.public_id,
    "quota": lambda a: a.quota.public_id,
    "invoice": lambda a: a.invoice.public_id,
    "fapiao": lambda a: (
        FapiaoDocument.objects.create(
            fapiao_request=FapiaoRequest.objects.get_or_create(
                invoice=a.invoice,
                defaults={
                    "title": a.name("fapiao title"),
                    "taxpayer_id": "x",
                    "fapiao_type": "ordinary",
                },
            )[0],
            invoice=a.invoice,
            number=f"{MARKER}{FapiaoDocument.objects.count()}",
            issued_on=date(2026, 11, 30),
            file=ContentFile(b"%PDF-1.7\n", name="fapiao.pdf"),
            file_format="pdf",
        ).public_id
    ),
    "payment": lambda a: (
        Payment.objects.create(
            organization=a.organization,
            purpose="top_up",
            amount=Decimal("12.00"),
            currency="CNY",
            provider="wechat",
        ).public_id
    ),
    "alert": lambda a: a.alert.public_id,
    "increase": lambda a: a.increase.public_id,
    "notification": lambda a: a.notification.public_id,
    "webhook": lambda a: a.webhook.public_id,
    "delivery": lambda a: a.delivery.public_id,
    "key": lambda a: a.api_key.public_id,
    "export": lambda a: (
        exports.build_export(
            export_id=exports.request_export(actor=Actor(user=a.owner.user, membership=a.owner)).pk
        ).public_id
    ),
    "offer": lambda a: _named_pack(a)[0].public_id,
    "purchase": lambda a: (
        sales.buy_pack(
            actor=Actor(user=a.owner.user, membership=a.owner),
            organization=a.organization,
            offer=_named_pack(a)[0],
            from_balance=False,
        ).public_id
    ),
    "entitlement": lambda a: (
        packages.grant_pack(
            organization=a.organization, terms=_named_pack(a)[1], reference=f"{MARKER}-{uuid4()}"
        ).public_id
    ),
    "policy": lambda a: (
        billing_services.save_model_policy(
            actor=Actor(user=a.owner.user, membership=a.owner),
            policy=ModelPolicy(organization=a.organization, mode=ModelPolicy.Mode.DENY),
            catalog_models=[],
            providers=[],
        ).public_id
    ),
}


def _named_pack(a):
    """A token pack offered to organization A only, with terms in force."""
    offer = Offer.objects.create(
        kind="pack",
        name_en=a.name("pack"),
        name_zh=a.name("pack"),
        visibility="named",
        is_published=True,
    )
    offer.offered_to.add(a.organization)
    terms = OfferTerms(
        offer=offer,
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        price_amount=Decimal(10),
        token_amount=1000,
        scope="all",
        validity_days=30,
    )
    return offer, packages.save_terms(actor=Actor.system(), terms=terms)


# Our routes that name objects shared by every organization (the public catalog): they may
# answer, but must still show nothing of organization A.
SHARED_KWARGS = {
    "fmt": lambda a: "pdf",
    "year": lambda a: "2026",
    "month": lambda a: "11",
    "verdict": lambda a: "approve",
    "provider": lambda a: "wechat",  # payment notifications: no provider configured here
    "model_id": lambda a: CatalogModelFactory(model_id="shared/isolation-model").model_id,
    "pk": lambda a: str(CatalogModelFactory(model_id="shared/isolation-model").pk),
    # Admin change pages with a view of ours (accounts.admin.ViewAsMixin): staff only.
    "object_id": lambda a: str(a.owner.user_id),
}
THIRD_PARTY_KWARGS = {
    "key": lambda a: "not-a-key",  # allauth confirmation and password reset keys
    "uidb36": lambda a: "1",
    "app_label": lambda a: "accounts",  # admin
    "object_id": lambda a: str(a.organization.pk),
    "id": lambda a: str(a.owner.user_id),
    "content_type_id": lambda a: str(ContentType.objects.get_for_model(Organization).pk),
    "url": lambda a: "anything/",
    # allauth's security key pages (keys/<int:pk>/edit/, remove/): a key of A's owner
    "pk": lambda a: str(
        key_set_up_earlier(a.owner.user, name=a.name("security key")).authenticator.pk
    ),
}


def walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        regex = pattern.pattern.regex.pattern.removeprefix("^")
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or namespace
            yield from walk(pattern.url_patterns, prefix + regex, inner)
        else:
            yield prefix + regex, pattern, namespace


def routes():
    """(id, url format, kwarg names, is ours, namespace, route name) for every route."""
    found = []
    for regex, pattern, namespace in walk(get_resolver().url_patterns):
        url_format, params = normalize(regex)[0]
        view = pattern.callback
        module = getattr(view, "view_class", getattr(view, "cls", view)).__module__
        ours = module.split(".")[0] in OUR_APPS
        found.append((url_format, params, ours, namespace, pattern.name))
    return found


ROUTES = routes()


def org_a_rows(org):
    """Every row of organization A in every tenant model, plus A itself and its people."""
    snapshot = {"organization": list(Organization.objects.filter(pk=org.pk).values())}
    for model in tenant_models():
        snapshot[model._meta.label] = list(model.objects.for_org(org).order_by("pk").values())
    members = Membership.objects.for_org(org).values("user")
    snapshot["users"] = list(User.objects.filter(pk__in=members).order_by("pk").values())
    snapshot["managers"] = list(
        Department.managers.through.objects.filter(department__organization=org)
        .order_by("pk")
        .values()
    )
    return snapshot


def tenant_models():
    return [
        model
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS
        and isinstance(model._default_manager.all(), TenantQuerySet)
    ]


def references_into(org) -> list[str]:
    """Rows outside A whose foreign keys point at one of A's rows."""
    found = []
    targets = {model: model.objects.for_org(org) for model in tenant_models()}
    targets[Organization] = Organization.objects.filter(pk=org.pk)
    for model in tenant_models():
        field = getattr(model, "tenant_field", "organization")
        outside = model.objects.exclude(**{field: org})
        for fk in model._meta.get_fields():
            if (
                isinstance(fk, models.ForeignKey)
                and fk.related_model in targets
                and outside.filter(**{f"{fk.name}__in": targets[fk.related_model]}).exists()
            ):
                found.append(f"{model._meta.label}.{fk.name}")
    return found


@pytest.fixture
def world(db, outsider):
    """Organization A with a department tree, members, an invitation and audit events;
    the outsider (the owner of organization B) makes the requests."""
    organization = OrganizationFactory(name=f"{MARKER} Org", legal_name=f"{MARKER} Ltd")
    owner = MembershipFactory(
        organization=organization,
        role=Role.OWNER,
        user=VerifiedUserFactory(email=f"{MARKER}-owner@example.com", full_name=f"{MARKER} O"),
    )
    project_actor = Actor(user=owner.user, membership=owner)
    root = services.create_department(actor=project_actor, name=f"{MARKER} HQ", code="ZQ1")
    department = services.create_department(
        actor=project_actor, name=f"{MARKER} Lab", code="ZQ2", parent=root, managers=[owner.user]
    )
    member = MembershipFactory(
        organization=organization,
        role=Role.DEVELOPER,
        department=department,
        user=VerifiedUserFactory(email=f"{MARKER}-dev@example.com", full_name=f"{MARKER} D"),
    )
    invitation = services.invite_member(
        actor=project_actor, email=f"{MARKER}-new@example.com", role=Role.VIEWER
    )
    project = projects_services.create_project(
        actor=project_actor, name=f"{MARKER} Search", department=department
    )
    api_key, _ = projects_services.create_api_key(
        actor=project_actor, project=project, name=f"{MARKER} key"
    )
    quota = quotas.create_quota(
        actor=project_actor, scope=Quota.Scope.DEPARTMENT, target=department, limit=1000
    )
    period = QuotaPeriodFactory(quota=quota)
    webhook, _ = webhooks.create_endpoint(
        actor=project_actor,
        url=f"http://127.0.0.1:{CLOSED_PORT}/in",
        event_types=["quota.exceeded"],
    )
    notify(
        organization=organization,
        event_type="quota.exceeded",
        subject=f"{MARKER} subject",
        message=f"{MARKER} message",
        data={},
        recipients=[owner.user],
    )
    FapiaoProfile.objects.create(  # the fapiao-profile API must answer B's, never this
        organization=organization, title=f"{MARKER} title", taxpayer_id=organization.uscc
    )
    # A pack charged on the operator's bill; B is on that bill too, so its operator-bill page
    # and API answer, with B's figures only.
    OperatorCharge.objects.create(
        organization=organization, category=OperatorCharge.Category.PACK,
        description=f"{MARKER} pack", currency="CNY", subtotal_amount=Decimal(100),
        tax_rate=Decimal("0.06"), tax_amount=Decimal(6), total_amount=Decimal(106),
    )  # fmt: skip
    ConsolidatedBilling.objects.create(
        organization=outsider.organization, operator_account_number="B-0001"
    )
    token = "isolation-token"
    invitation.token_digest = Invitation.digest(token)
    invitation.save(update_fields=["token_digest"])
    a = SimpleNamespace(
        organization=organization,
        owner=owner,
        member=member,
        department=department,
        invitation=invitation,
        invitation_token=token,
        audit_event=AuditEvent.objects.for_org(organization).first(),
        project=project,
        api_key=api_key,
        quota=quota,
        invoice=InvoiceFactory(
            organization=organization,
            status=Invoice.Status.ISSUED,
            number="TP-2026-999999",
            period_start=date(2026, 10, 1),
            subtotal_amount=Decimal(100),
        ),
        alert=QuotaAlertFactory(quota_period=period, threshold=50, consumed=500),
        increase=quotas.request_increase(
            actor=project_actor, quota=quota, new_limit=2000, reason=f"{MARKER} more"
        ),
        notification=Notification.objects.filter(user=owner.user).first(),
        webhook=webhook,
        delivery=WebhookDelivery.objects.filter(endpoint=webhook).first(),
        name=lambda what: f"{MARKER} {what}",
    )
    values = {name: str(make(a)) for name, make in OBJECT_KWARGS.items()}
    yield SimpleNamespace(a=a, values=values, outsider=outsider)
    cache.clear()  # allauth's rate-limit counters
    for export in DataExport.objects.exclude(file=""):
        export.file.delete(save=False)


def secrets_of(world, snapshot) -> tuple[set[str], set[str]]:
    """A's public ids (from every tenant row) and the strings that name A."""
    ids = {
        row["public_id"]
        for rows in snapshot.values()
        for row in rows
        if isinstance(row.get("public_id"), str)
    }
    return ids, {MARKER, world.a.organization.uscc}


def request_body(world):
    a = world.a
    return {
        "organization": a.organization.public_id,
        "department": a.department.public_id,
        "parent": a.department.public_id,
        "member": a.member.public_id,
        "managers": a.owner.user.email,
        "email": a.member.user.email,
        "role": Role.OWNER,
        "name": "renamed",
        "code": "X1",
    }


@pytest.mark.parametrize(
    ("url_format", "params", "ours", "namespace", "name"),
    ROUTES,
    ids=[route[0] or "/" for route in ROUTES],
)
def test_another_organization_gets_nothing_from_this_route(
    world, url_format, params, ours, namespace, name
):
    registry = {**OBJECT_KWARGS, **SHARED_KWARGS} if ours else THIRD_PARTY_KWARGS
    unknown = [param for param in params if param not in registry]
    assert not unknown, (
        f"/{url_format} has URL kwargs {unknown}: register them in "
        f"{'OBJECT_KWARGS or SHARED_KWARGS' if ours else 'THIRD_PARTY_KWARGS'} "
        "in tests/test_isolation.py"
    )
    a = world.a
    values = {
        p: world.values[p] if ours and p in world.values else str(registry[p](a)) for p in params
    }
    names_an_object_of_a = ours and any(p in OBJECT_KWARGS for p in params)
    path = "/" + url_format % values
    before = org_a_rows(a.organization)
    public_ids, names = secrets_of(world, before)
    body = request_body(world)
    # What a request sends may come back in an error message: that is an echo, not a leak.
    sent = [str(value).lower() for value in body.values()]
    is_api = url_format.startswith(("api/", "_allauth/"))

    # A crash in our code fails the test; a third-party view's crash is only "no success"
    # (allauth's headless phone endpoints raise while phone login is off).
    client = Client(raise_request_exception=ours)
    headers_variants = [{}]
    if url_format.startswith("api/"):
        headers_variants.append({"x-organization": a.organization.public_id})
    for headers in headers_variants:
        for method in METHODS:
            client.force_login(world.outsider.user)
            kwargs = {"headers": headers}
            if method != "get":
                kwargs["data"] = body
                if is_api or method != "post":
                    kwargs["content_type"] = "application/json"
            response = getattr(client, method)(path, follow=namespace == "admin", **kwargs)
            where = f"{method.upper()} {path} {headers or ''} -> {response.status_code}"
            content = (
                b"".join(response.streaming_content) if response.streaming else response.content
            )
            text = content.decode(errors="replace").lower()
            # What the request itself sent is no leak: its body, and its own URL (a page's
            # language form returns to it, the branded 404 page too).
            for echo in [*(sent if method != "get" else []), path.lower()]:
                text = text.replace(echo, "")
            for secret in [*names, *public_ids]:
                assert secret.lower() not in text, f"{where} shows {secret!r}"
            if namespace == "admin" and name != "login":
                final = response.redirect_chain[-1][0] if response.redirect_chain else ""
                assert final.startswith("/admin/login/"), f"{where}: not sent to the admin login"
            elif names_an_object_of_a:
                assert response.status_code >= 400, f"{where}: success on organization A's object"

    assert org_a_rows(a.organization) == before, f"{path} changed organization A's data"
    assert references_into(a.organization) == [], f"{path} made rows point into organization A"


def test_the_walk_covers_pages_api_and_third_party_routes():
    formats = {route[0] for route in ROUTES}
    assert {
        "organization/members/%(member)s/",
        "api/v1/departments/%(department)s/",
        "api/v1/audit-events/",
        "accounts/login/",
        "admin/",
    } <= formats
