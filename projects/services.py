"""Every write on projects, API keys and gateway credentials: audited, one transaction each.

Anything that changes what the gateway's cached snapshots hold invalidates them after
commit (projects.authorize), so the change holds on the very next authorize call.
"""

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.audit_trail import Actor, record_actor_event
from accounts.permissions import Action, can
from projects import authorize
from projects.models import ApiKey, GatewayCredential, Project, parse_ip_allowlist
from projects.signals import project_department_changed

MAX_ALLOWED_MODELS = 100
DEFAULT_ROTATION_GRACE = timedelta(hours=24)
MAX_ROTATION_GRACE = timedelta(days=30)
KEY_SETTINGS = ("name", "expires_at", "allowed_models", "ip_allowlist", "rpm_limit", "tpm_limit")


def _require(actor: Actor, action: Action, obj_organization_id: int, department_id: int | None):
    if actor.membership is None or actor.membership.organization_id != obj_organization_id:
        raise PermissionDenied
    if not can(actor.membership, action, department_id):
        raise PermissionDenied


# --- Projects ------------------------------------------------------------------------------


def _check_department(actor: Actor, department) -> None:
    if department is not None and department.organization_id != actor.membership.organization_id:
        raise ValidationError({"department": _("Choose a department of this organization.")})


@transaction.atomic
def create_project(*, actor: Actor, name: str, description: str = "", department=None) -> Project:
    if actor.membership is None:
        raise PermissionDenied
    _check_department(actor, department)
    department_id = department.id if department else None
    _require(actor, Action.MANAGE_PROJECTS, actor.membership.organization_id, department_id)
    project = Project(
        organization=actor.membership.organization,
        department=department,
        name=name,
        description=description,
        created_by=actor.user,
    )
    project.full_clean()
    project.save()
    record_actor_event(
        actor=actor,
        action="project.created",
        target=project,
        changes={"after": {"name": name, "department": str(department) if department else None}},
    )
    return project


@transaction.atomic
def update_project(
    *, actor: Actor, project: Project, name: str, description: str, department
) -> Project:
    project = Project.objects.select_for_update().get(pk=project.pk)
    _require(actor, Action.MANAGE_PROJECTS, project.organization_id, project.department_id)
    _check_department(actor, department)
    _require(
        actor,
        Action.MANAGE_PROJECTS,
        project.organization_id,
        department.id if department else None,
    )
    old_department = project.department
    changes = audit.apply(project, {"name": name, "description": description})
    if department != old_department:
        project.department = department
        changes.setdefault("before", {})["department"] = str(old_department or "")
        changes.setdefault("after", {})["department"] = str(department or "")
        authorize.API_KEYS.invalidate(project.api_keys.values_list("prefix", flat=True))
        project_department_changed.send(sender=Project, project=project)
    if changes:
        project.full_clean()
        project.save()
        record_actor_event(actor=actor, action="project.updated", target=project, changes=changes)
    return project


@transaction.atomic
def archive_project(*, actor: Actor, project: Project) -> Project:
    """Refuse the project's keys from now on; its keys and history stay."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    _require(actor, Action.MANAGE_PROJECTS, project.organization_id, project.department_id)
    if project.is_archived:
        raise ValidationError(_("This project is already archived."), code="project_archived")
    project.status, project.archived_at = Project.Status.ARCHIVED, timezone.now()
    project.save(update_fields=["status", "archived_at"])
    authorize.API_KEYS.invalidate(project.api_keys.values_list("prefix", flat=True))
    record_actor_event(
        actor=actor,
        action="project.archived",
        target=project,
        changes={"before": {"status": "active"}, "after": {"status": "archived"}},
    )
    return project


# --- API keys -------------------------------------------------------------------------------


def _catalog_model_ids(values) -> list[str]:
    if not isinstance(values, list):
        raise ValidationError(_("Enter a list of model ids."), code="invalid")
    if len(values) > MAX_ALLOWED_MODELS:
        raise ValidationError(
            _("At most %(max)d models."), code="max_length", params={"max": MAX_ALLOWED_MODELS}
        )
    names = [str(value).strip() for value in values]
    known = authorize.callable_model_ids(names)
    model_ids = []
    for value, name in zip(values, names, strict=True):
        if name not in known:
            raise ValidationError(
                _("%(value)s is not an available model of the catalog."),
                code="unknown_model",
                params={"value": value},
            )
        if known[name] not in model_ids:
            model_ids.append(known[name])
    return model_ids


def _clean_key_settings(settings: dict, *, previous_expiry: datetime | None = None) -> dict:
    """The key settings, normalised; raises ValidationError with an error per field."""
    cleaned, errors = dict(settings), {}
    for field, parse in (
        ("allowed_models", _catalog_model_ids),
        ("ip_allowlist", parse_ip_allowlist),
    ):
        try:
            cleaned[field] = parse(settings[field])
        except ValidationError as error:
            errors[field] = error.messages
    expires_at = settings["expires_at"]
    if expires_at not in (None, previous_expiry) and expires_at <= timezone.now():
        errors["expires_at"] = [_("Choose a time in the future.")]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _name_taken_error() -> ValidationError:
    return ValidationError(
        {"name": _("This project already has a key with this name.")}, code="name_taken"
    )


def _save_key(key: ApiKey) -> None:
    """Validate and save `key`; a name another key in service of its project holds is an error
    at the name field. The database constraint decides a race between two saves."""
    in_service = ApiKey.objects.filter(project_id=key.project_id, revoked_at__isnull=True)
    if key.revoked_at is None and in_service.filter(name=key.name).exclude(pk=key.pk).exists():
        raise _name_taken_error()
    key.full_clean(validate_constraints=False)  # the one constraint is checked just above
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError:
        if in_service.filter(name=key.name).exclude(pk=key.pk).exists():
            raise _name_taken_error() from None
        raise


def _require_key_action(actor: Actor, project: Project) -> None:
    _require(actor, Action.MANAGE_KEYS, project.organization_id, project.department_id)
    if project.is_archived:
        raise ValidationError(
            _("The project is archived: its keys cannot be created or changed."),
            code="project_archived",
        )


@transaction.atomic
def create_api_key(
    *,
    actor: Actor,
    project: Project,
    name: str,
    expires_at: datetime | None = None,
    allowed_models: list[str] | None = None,
    ip_allowlist: list[str] | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    rotated_from: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its plaintext, which is returned here once and stored nowhere."""
    _require_key_action(actor, project)
    cleaned = _clean_key_settings(
        {
            "name": name,
            "expires_at": expires_at,
            "allowed_models": allowed_models or [],
            "ip_allowlist": ip_allowlist or [],
            "rpm_limit": rpm_limit,
            "tpm_limit": tpm_limit,
        }
    )
    key = ApiKey(project=project, created_by=actor.user, rotated_from=rotated_from, **cleaned)
    plaintext = key.set_new_secret()
    _save_key(key)
    authorize.API_KEYS.invalidate([key.prefix])  # forget a cached "no such key" for the prefix
    record_actor_event(
        actor=actor,
        action="api_key.created",
        target=key,
        changes={"after": {field: value for field, value in cleaned.items()}},
    )
    return key, plaintext


def _locked(key: ApiKey) -> ApiKey:
    return ApiKey.objects.select_for_update().select_related("project").get(pk=key.pk)


@transaction.atomic
def update_api_key(
    *,
    actor: Actor,
    key: ApiKey,
    name: str,
    expires_at: datetime | None,
    allowed_models: list[str],
    ip_allowlist: list[str],
    rpm_limit: int | None,
    tpm_limit: int | None,
) -> ApiKey:
    key = _locked(key)
    _require_key_action(actor, key.project)
    if key.state == ApiKey.State.REVOKED:
        raise ValidationError(_("A revoked key cannot be changed."), code="key_revoked")
    cleaned = _clean_key_settings(
        {
            "name": name,
            "expires_at": expires_at,
            "allowed_models": allowed_models,
            "ip_allowlist": ip_allowlist,
            "rpm_limit": rpm_limit,
            "tpm_limit": tpm_limit,
        },
        previous_expiry=key.expires_at,  # keeping a past expiry is not choosing it
    )
    changes = audit.apply(key, cleaned)
    if changes:
        _save_key(key)
        authorize.API_KEYS.invalidate([key.prefix])
        record_actor_event(actor=actor, action="api_key.updated", target=key, changes=changes)
    return key


@transaction.atomic
def revoke_api_key(*, actor: Actor, key: ApiKey) -> ApiKey:
    key = _locked(key)
    _require(actor, Action.MANAGE_KEYS, key.project.organization_id, key.project.department_id)
    if key.state == ApiKey.State.REVOKED:
        raise ValidationError(_("This key is already revoked."), code="key_revoked")
    old = key.revoked_at
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    authorize.API_KEYS.invalidate([key.prefix])
    record_actor_event(
        actor=actor,
        action="api_key.revoked",
        target=key,
        changes={
            "before": {"revoked_at": old},
            "after": {"revoked_at": key.revoked_at},
        },
    )
    return key


@transaction.atomic
def rotate_api_key(
    *, actor: Actor, key: ApiKey, grace: timedelta = DEFAULT_ROTATION_GRACE
) -> tuple[ApiKey, str]:
    """A new key with the same settings; the old one works for `grace`, then is revoked.

    The old key's revoked_at is set to the end of the grace period, so no task has to run
    for it to stop working: the authorize call compares the time.
    """
    key = _locked(key)
    _require_key_action(actor, key.project)
    if key.state != ApiKey.State.ACTIVE:
        raise ValidationError(_("Only an active key can be rotated."), code="key_not_active")
    if not timedelta(0) <= grace <= MAX_ROTATION_GRACE:
        raise ValidationError({"grace": _("Choose a grace period between 0 and 30 days.")})
    # The old key leaves service (revoked at the end of the grace) before the new one takes
    # its name.
    key.revoked_at = timezone.now() + grace
    key.save(update_fields=["revoked_at"])
    new_key, plaintext = create_api_key(
        actor=actor,
        project=key.project,
        rotated_from=key,
        **{field: getattr(key, field) for field in KEY_SETTINGS},
    )
    authorize.API_KEYS.invalidate([key.prefix])
    record_actor_event(
        actor=actor,
        action="api_key.rotated",
        target=key,
        changes={"after": {"revoked_at": key.revoked_at, "rotated_to": new_key.public_id}},
    )
    return new_key, plaintext


def record_key_use(*, last_used: dict[int, datetime]) -> None:
    """Advance each key's "last used" (ApiKey pk: time of its latest reported call).

    Usage is the record of use: a gateway may cache its authorize answers, and a journal
    replays calls late, so authorize alone misses calls.
    """
    ApiKey.mark_used(last_used)


def invalidate_organization_keys(*, organization_id: int) -> None:
    """Make the gateway re-read every key of the organization on its next call.

    Done, inside its transaction, whenever an organization's status changes (approve,
    suspend, reinstate: projects/receivers.py); the cache changes after commit.
    """
    authorize.API_KEYS.invalidate(
        list(
            ApiKey.objects.filter(project__organization_id=organization_id).values_list(
                "prefix", flat=True
            )
        )
    )


# --- Gateway credentials (staff, in the admin) -----------------------------------------------


@transaction.atomic
def create_gateway_credential(*, actor: Actor, name: str) -> tuple[GatewayCredential, str]:
    credential = GatewayCredential(name=name)
    plaintext = credential.set_new_secret()
    credential.full_clean()
    credential.save()
    authorize.CREDENTIALS.invalidate([credential.prefix])
    record_actor_event(
        actor=actor,
        action="gateway_credential.created",
        target=credential,
        changes={"after": {"name": name}},
    )
    return credential, plaintext


@transaction.atomic
def revoke_gateway_credential(*, actor: Actor, credential: GatewayCredential) -> GatewayCredential:
    credential = GatewayCredential.objects.select_for_update().get(pk=credential.pk)
    if credential.revoked_at is None:
        credential.revoked_at = timezone.now()
        credential.save(update_fields=["revoked_at"])
        authorize.CREDENTIALS.invalidate([credential.prefix])
        record_actor_event(actor=actor, action="gateway_credential.revoked", target=credential)
    return credential
