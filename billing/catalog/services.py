"""Writes to the catalog and price book that touch more than one row or leave a trail."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.audit_trail import Actor, record_actor_event
from billing.catalog.models import PRICE_FIELDS, CatalogModel, ModelPolicy, PriceVersion
from billing.catalog.selectors import bump_policy_cache_version


@transaction.atomic
def add_price_version(
    *, actor: Actor, model: CatalogModel, effective_from, prices: dict
) -> PriceVersion:
    """A new price for `model` from `effective_from`; earlier versions stay as they were."""
    version = PriceVersion(
        model=model,
        effective_from=effective_from,
        source="manual",
        created_by=actor.user,
        **{name: prices[name] for name in PRICE_FIELDS if name in prices},  # else defaults
    )
    version.full_clean()
    version.save()
    record_actor_event(
        actor=actor,
        action="catalog.price_added",
        target=version,
        changes={
            "after": {
                "model": model.model_id,
                "effective_from": effective_from,
                **{name: getattr(version, name) for name in PRICE_FIELDS},
            }
        },
    )
    return version


@transaction.atomic
def set_filed(*, actor: Actor, models, filed: bool) -> int:
    """Staff: whether each model is filed with the regulator (算法备案); audited per model."""
    changed = 0
    for model in models:
        if model.is_filed != filed:
            CatalogModel.objects.filter(pk=model.pk).update(is_filed=filed)
            record_actor_event(
                actor=actor,
                action="catalog.model_filed" if filed else "catalog.model_not_filed",
                target=model,
                changes={"before": {"is_filed": model.is_filed}, "after": {"is_filed": filed}},
            )
            changed += 1
    return changed


def validate_model_policy(*, policy: ModelPolicy, catalog_models, providers) -> None:
    """Raise ValidationError unless `policy` with these lists may be saved."""
    if policy.mode == ModelPolicy.Mode.ALLOW and not catalog_models and not providers:
        raise ValidationError(
            {"catalog_models": _("An allow list needs at least one model or provider.")}
        )
    taken = ModelPolicy.objects.filter(
        organization_id=policy.organization_id, department=policy.department
    ).exclude(pk=policy.pk)
    if taken.exists():
        raise ValidationError(
            {"department": _("This level already has a policy; change that one instead.")}
        )


@transaction.atomic
def save_model_policy(
    *, actor: Actor, policy: ModelPolicy, catalog_models, providers
) -> ModelPolicy:
    """Create or change a model policy of the acting member's organization, audited."""
    assert policy.organization_id == actor.membership.organization_id
    assert policy.department is None or policy.department.organization_id == policy.organization_id
    validate_model_policy(policy=policy, catalog_models=catalog_models, providers=providers)
    created = policy.pk is None
    policy.save()
    policy.catalog_models.set(catalog_models)
    policy.providers.set(providers)
    record_actor_event(
        actor=actor,
        action="model_policy.created" if created else "model_policy.changed",
        target=policy,
        changes={
            "after": {
                "mode": policy.mode,
                "filed_only": policy.filed_only,
                "models": sorted(m.model_id for m in catalog_models),
                "providers": sorted(p.slug for p in providers),
            }
        },
    )
    transaction.on_commit(lambda: bump_policy_cache_version(policy.organization_id))
    return policy


@transaction.atomic
def delete_model_policy(*, actor: Actor, policy: ModelPolicy) -> None:
    assert policy.organization_id == actor.membership.organization_id
    record_actor_event(actor=actor, action="model_policy.deleted", target=policy)
    organization_id = policy.organization_id
    policy.delete()
    transaction.on_commit(lambda: bump_policy_cache_version(organization_id))
