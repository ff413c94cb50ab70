"""Constraint errors where people read them: at the field they are about, in our words.

Every CheckConstraint and UniqueConstraint of ours has a `violation_error_message` (a test
walks them all). A model with `FieldConstraintErrors` reports a violated constraint at its
field (a form shows it beside the input, the API as that field's 400 error) instead of as an
error of the whole object: the field named in the model's `constraint_fields`, else the one
field a check compares, else the one field of a unique constraint beside `organization`.
"""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, router


def constraint_field(model, constraint) -> str:
    """The field whose input `constraint` judges, or NON_FIELD_ERRORS."""
    named = getattr(model, "constraint_fields", {}).get(constraint.name)
    if named:
        return named
    if isinstance(constraint, models.CheckConstraint):
        lookups = set(_compared_fields(constraint.condition))
        return lookups.pop() if len(lookups) == 1 else NON_FIELD_ERRORS
    fields = [name for name in getattr(constraint, "fields", ()) if name != "organization"]
    return fields[0] if len(fields) == 1 else NON_FIELD_ERRORS


def _compared_fields(condition):
    """The fields on the left of a Q's lookups ("limit" of limit__gt=0), nested Qs included."""
    for child in condition.children:
        if isinstance(child, models.Q):
            yield from _compared_fields(child)
        else:
            yield child[0].split("__")[0]


class FieldConstraintErrors:
    """Model mixin: full_clean() reports each violated constraint at its field."""

    def validate_constraints(self, exclude=None):
        using = router.db_for_write(self.__class__, instance=self)
        errors = {}
        for model_class, constraints in self.get_constraints():
            for constraint in constraints:
                try:
                    constraint.validate(model_class, self, exclude=exclude, using=using)
                except ValidationError as error:
                    field = constraint_field(model_class, constraint)
                    errors.setdefault(field, []).extend(error.error_list)
        if errors:
            raise ValidationError(errors)
