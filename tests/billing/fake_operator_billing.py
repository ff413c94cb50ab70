"""A fake operator billing system on 127.0.0.1 speaking the settlement HTTP adapter's
contract (billing.managed.billing_system): it checks the bearer token, answers the first
`fail_first` requests with 503, then acknowledges each Idempotency-Key once (a repeated key
gets the same ack id)."""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "test-operator-token"


@contextlib.contextmanager
def receiver(port: int, fail_first: int = 0):
    """Yields the list of (idempotency key, JSON body) received, failed attempts included."""
    received, acks = [], {}
    failures = {"left": fail_first}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            if self.headers["authorization"] != f"Bearer {TOKEN}":
                return self._answer(401, {"message": "unauthorized"})
            key = self.headers["idempotency-key"]
            received.append((key, body))
            if failures["left"]:
                failures["left"] -= 1
                return self._answer(503, {"message": "try again later"})
            ack = acks.setdefault(key, f"ACK-{len(acks) + 1:04d}")
            self._answer(200, {"ack_id": ack})

        def _answer(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
