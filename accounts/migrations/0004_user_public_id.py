"""Users get an opaque public id like every other object a client sees (allauth's headless
API answered with the integer primary key). Added nullable, filled, then made unique."""

from django.db import migrations, models

import portal.ids


def fill(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    for user in User.objects.filter(public_id__isnull=True).only("pk"):
        User.objects.filter(pk=user.pk).update(public_id=portal.ids.new_public_id("usr"))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_auditevent_append_only")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="public_id",
            field=models.CharField(max_length=40, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="public_id",
            field=portal.ids.PublicIdField(prefix="usr"),
        ),
    ]
