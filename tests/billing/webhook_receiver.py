"""A real HTTP receiver on 127.0.0.1 that verifies Standard Webhooks signatures."""

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


@contextlib.contextmanager
def receiver(port: int, secret_of, plan=()):
    """Serve on `port`; answer with the statuses of `plan` in turn ("slow" sleeps past the
    client's timeout), then 204. Yields the list of received (headers, body, verified)."""
    received, plan = [], list(plan)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"])).decode()
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                Webhook(secret_of()).verify(body, headers)
                verified = True
            except Exception:
                verified = False
            received.append((headers, body, verified))
            answer = plan.pop(0) if plan else 204
            if answer == "slow":
                time.sleep(1.5)
                answer = 204
            self.send_response(answer)
            self.end_headers()

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
