from django.db import migrations, models

NAME_LENGTH = 120


def suffix_duplicate_names(apps, schema_editor):
    """Keys in service that share a name in a project: the oldest keeps it, the others get
    " (2)", " (3)"... (shortened to fit), so that the constraint can be added."""
    ApiKey = apps.get_model("projects", "ApiKey")
    live = ApiKey.objects.filter(revoked_at__isnull=True).order_by("project_id", "created_at", "id")
    taken: dict[int, set[str]] = {}
    for key in live.only("id", "project_id", "name"):
        names = taken.setdefault(key.project_id, set())
        name, number = key.name, 1
        while name in names:
            number += 1
            ending = f" ({number})"
            name = key.name[: NAME_LENGTH - len(ending)] + ending
        names.add(name)
        if name != key.name:
            ApiKey.objects.filter(pk=key.pk).update(name=name)


class Migration(migrations.Migration):
    dependencies = [("projects", "0001_initial")]

    operations = [
        migrations.RunPython(suffix_duplicate_names, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("revoked_at__isnull", True)),
                fields=("project", "name"),
                name="api_key_name_unique_in_project",
                violation_error_message="This project already has a key with this name.",
            ),
        ),
    ]
