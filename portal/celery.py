import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
# Every Celery option lives in Django settings under the CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # <app>.tasks of every installed app
app.autodiscover_tasks(
    [
        "billing.metering",
        "billing.quotas",
        "billing.invoicing",
        "billing.packages",
        "billing.payments",
        "billing.managed",
    ]
)
