"""Child processes of the metering concurrency test, each with its own database connection.

python -m tests.billing.metering_procs ingest KEY_ID SEED BATCHES
python -m tests.billing.metering_procs roll STOP_FILE
"""

import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main(argv):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from billing.metering import services as metering

    if argv[0] == "ingest":
        key_id, seed, batches = argv[1], int(argv[2]), int(argv[3])
        rng = random.Random(seed)
        now = datetime.now(UTC)
        for _ in range(batches):
            metering.ingest_usage(
                events=[
                    {
                        # A shared pool of ids: processes race on the same request_ids.
                        "request_id": f"c-{rng.randrange(2000)}",
                        "key_id": key_id,
                        "model": rng.choice(["chat-1", "chat-2"]),
                        "input_tokens": rng.randrange(10_000),
                        "output_tokens": rng.randrange(1_000),
                        "occurred_at": (now - timedelta(minutes=rng.randrange(3000))).isoformat(),
                    }
                    for _ in range(50)
                ]
            )
    else:
        stop = Path(argv[1])
        while not stop.exists():
            metering.roll_up(step=37)


if __name__ == "__main__":
    main(sys.argv[1:])
