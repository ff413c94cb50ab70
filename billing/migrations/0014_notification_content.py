from django.db import migrations, models


class Migration(migrations.Migration):
    """Notifications keep their texts translatable (`content`, rendered when read); the texts
    as sent are renamed in Python only: the columns stay `subject` and `message`."""

    dependencies = [("billing", "0013_remittance_reference")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField("notification", "subject", "sent_subject"),
                migrations.RenameField("notification", "message", "sent_message"),
                migrations.AlterField(
                    model_name="notification",
                    name="sent_subject",
                    field=models.CharField(
                        db_column="subject", max_length=200, verbose_name="subject"
                    ),
                ),
                migrations.AlterField(
                    model_name="notification",
                    name="sent_message",
                    field=models.TextField(db_column="message", verbose_name="message"),
                ),
            ]
        ),
        migrations.AddField(
            model_name="notification",
            name="content",
            field=models.JSONField(blank=True, default=dict, verbose_name="content"),
        ),
    ]
