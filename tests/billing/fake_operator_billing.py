"""A fake operator billing system on 127.0.0.1 speaking the settlement HTTP adapter's
contract (billing.managed.billing_system): it checks the bearer token, answers the first
`fail_first` requests with 503, then acknowledges each Idempotency-Key once (a repeated key
gets the same ack id), `delay` seconds after a request arrived."""

import contextlib
import time

from tests.billing.http_fakes import JsonHandler, serving

TOKEN = "test-operator-token"


@contextlib.contextmanager
def receiver(port: int, fail_first: int = 0, delay: float = 0):
    """Yields the list of (idempotency key, JSON body) received, failed attempts included."""
    received, acks = [], {}
    failures = {"left": fail_first}

    class Handler(JsonHandler):
        def do_POST(self):
            body = self.read_json()
            if self.headers["authorization"] != f"Bearer {TOKEN}":
                return self.answer(401, {"message": "unauthorized"})
            key = self.headers["idempotency-key"]
            received.append((key, body))
            time.sleep(delay)
            if failures["left"]:
                failures["left"] -= 1
                return self.answer(503, {"message": "try again later"})
            return self.answer(200, {"ack_id": acks.setdefault(key, f"ACK-{len(acks) + 1:04d}")})

    with serving(Handler, port):
        yield received
