"""Add or update an upstream channel of the relay from the command line (or a deploy script).

    python manage.py relay_channel local-vllm http://127.0.0.1:18080/v1 \
        --model deepseek/deepseek-chat=deepseek-chat --model qwen/qwen-max
Reads the provider's API key from RELAY_CHANNEL_API_KEY (kept out of the shell history and
the process list), or asks for it.
"""

import getpass
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.audit_trail import Actor
from relay import services


class Command(BaseCommand):
    help = "Add or update a relay channel: base URL, API key and the catalog models it serves."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("base_url")
        parser.add_argument(
            "--model", action="append", default=[], metavar="CATALOG_ID[=UPSTREAM_NAME]"
        )
        parser.add_argument("--priority", type=int, default=0)
        parser.add_argument("--weight", type=int, default=1)

    def handle(self, *args, name, base_url, model, priority, weight, **options):
        credential = os.environ.get("RELAY_CHANNEL_API_KEY") or getpass.getpass("API key: ")
        models = dict([*item.split("=", 1), ""][:2] for item in model)
        try:
            channel = services.configure_channel(
                actor=Actor.system(), name=name, base_url=base_url, credential=credential,
                models=models, priority=priority, weight=weight,
            )  # fmt: skip
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        served = ", ".join(sorted(models)) or "no models yet"
        self.stdout.write(f"Channel {channel.name} ({channel.public_id}): {served}")
