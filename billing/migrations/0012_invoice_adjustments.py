from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0011_price_conditions"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="usage_from",
            field=models.DateField(
                blank=True, editable=False, null=True, verbose_name="usage read from month"
            ),
        ),
        migrations.AddField(
            model_name="invoice",
            name="usage_through_event_id",
            field=models.BigIntegerField(
                blank=True, editable=False, null=True, verbose_name="usage billed through event"
            ),
        ),
    ]
