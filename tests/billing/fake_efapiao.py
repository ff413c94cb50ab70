"""A fake e-fapiao provider on 127.0.0.1 speaking the generic HTTP adapter's contract
(billing.invoicing.efapiao): it checks the bearer token, issues each request id once (a retry
with the same Idempotency-Key gets the same fapiao) and answers a PDF, or refuses."""

import base64
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "test-efapiao-token"
PDF = b"%PDF-1.7\n% fake fapiao\n%%EOF\n"


@contextlib.contextmanager
def provider(port: int, refuse: str = ""):
    """Yields the list of JSON payloads received; `refuse`: answer 422 with that message."""
    received, issued = [], {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            if self.path != "/fapiao" or self.headers["authorization"] != f"Bearer {TOKEN}":
                return self._answer(401, {"message": "unauthorized"})
            received.append(body)
            if refuse:
                return self._answer(422, {"message": refuse})
            key = self.headers["idempotency-key"]
            prefix = "0420" if body["red_letter_of"] else "0310"
            number = issued.setdefault(key, f"{prefix}{len(issued) + 1:016d}")
            self._answer(200, {"number": number, "date": "2026-12-05", "format": "pdf",
                               "file": base64.b64encode(PDF).decode()})  # fmt: skip

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
