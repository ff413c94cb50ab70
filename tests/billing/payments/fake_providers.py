"""Fake WeChat Pay and Alipay servers on 127.0.0.1: real HTTP servers in a thread that check
the SDK's request signatures and answer, and notify, signed with test keys made here, as the
providers do. Only the endpoints the portal calls are implemented."""

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyPair:
    def __init__(self):
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def private_pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, text: str) -> str:
        signature = self.private.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    def verify(self, text: str, signature: str) -> bool:
        try:
            self.private.public_key().verify(
                base64.b64decode(signature), text.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            return False
        return True


class FakeServer:
    """Starts `handle(method, path, query, body, headers) -> (status, headers, body)`."""

    def __init__(self):
        self.requests = []
        self.trades = {}  # out_trade_no -> dict
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                owner.requests.append((self.command, parts.path, body))
                status, headers, payload = owner.handle(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    body,
                    self.headers,
                    self.path,
                )
                data = payload.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class FakeWeChatPay(FakeServer):
    MCHID, APPID, SERIAL, PUBLIC_KEY_ID = (
        "1900000109",
        "wx0000000000000001",
        "5A1B",
        "PUB_KEY_ID_01",
    )

    def __init__(self, merchant: KeyPair, platform: KeyPair):
        self.merchant, self.platform = merchant, platform
        self.apiv3_key = secrets.token_hex(16)  # 32 characters
        self.refund_status = "PROCESSING"
        super().__init__()

    def options(self) -> dict:
        return {
            "mchid": self.MCHID, "appid": self.APPID, "private_key": self.merchant.private_pem,
            "cert_serial_no": self.SERIAL, "apiv3_key": self.apiv3_key,
            "public_key": self.platform.public_pem, "public_key_id": self.PUBLIC_KEY_ID,
            "api_base": self.base_url,
        }  # fmt: skip

    def signed_headers(self, body: str, key: KeyPair | None = None, timestamp=None) -> dict:
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16)
        return {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": (key or self.platform).sign(f"{timestamp}\n{nonce}\n{body}\n"),
            "Wechatpay-Serial": self.PUBLIC_KEY_ID,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def _merchant_signed(self, method, raw_path, body, headers) -> bool:
        auth = headers.get("Authorization", "")
        fields = dict(part.split("=", 1) for part in auth.split(" ", 1)[1].split(","))
        fields = {k: v.strip('"') for k, v in fields.items()}
        text = f"{method}\n{raw_path}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body}\n"
        return fields["mchid"] == self.MCHID and self.merchant.verify(text, fields["signature"])

    def handle(self, method, path, query, body, headers, raw_path):
        if not self._merchant_signed(method, raw_path, body, headers):
            return 401, {"Content-Type": "application/json"}, '{"code":"SIGN_ERROR"}'
        request = json.loads(body) if body else {}
        if path == "/v3/pay/transactions/native":
            self.trades[request["out_trade_no"]] = {**request, "trade_state": "NOTPAY"}
            answer = {"code_url": f"weixin://wxpay/bizpayurl?pr={secrets.token_hex(4)}"}
        elif path.startswith("/v3/pay/transactions/out-trade-no/"):
            trade = self.trades[path.rsplit("/", 1)[1]]
            answer = self.transaction(trade["out_trade_no"], trade["trade_state"])
        elif path == "/v3/refund/domestic/refunds":
            answer = {"refund_id": "50000" + secrets.token_hex(4), "status": self.refund_status,
                      "out_refund_no": request["out_refund_no"],
                      "out_trade_no": request["out_trade_no"],
                      "amount": request["amount"]}  # fmt: skip
        else:
            return 404, {"Content-Type": "application/json"}, '{"code":"NOT_FOUND"}'
        text = json.dumps(answer)
        return 200, self.signed_headers(text), text

    def transaction(self, out_trade_no, state="SUCCESS", total=None) -> dict:
        trade = self.trades[out_trade_no]
        return {
            "mchid": self.MCHID, "appid": self.APPID, "out_trade_no": out_trade_no,
            "transaction_id": "42000" + out_trade_no[-8:], "trade_state": state,
            "amount": {"total": trade["amount"]["total"] if total is None else total,
                       "payer_total": trade["amount"]["total"], "currency": "CNY"},
        }  # fmt: skip

    def notification(self, event_type: str, resource: dict, *, key=None, timestamp=None):
        """(headers, body) of a notification as WeChat Pay posts it."""
        nonce = secrets.token_hex(6)  # 12 characters
        plain = json.dumps(resource).encode()
        cipher = AESGCM(self.apiv3_key.encode()).encrypt(nonce.encode(), plain, b"transaction")
        body = json.dumps({
            "id": secrets.token_hex(8), "create_time": "2026-12-04T12:00:00+08:00",
            "resource_type": "encrypt-resource", "event_type": event_type, "summary": "",
            "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": base64.b64encode(cipher).decode(),
                         "associated_data": "transaction", "nonce": nonce},
        })  # fmt: skip
        return self.signed_headers(body, key, timestamp), body

    def paid(self, out_trade_no, **kwargs):
        self.trades[out_trade_no]["trade_state"] = "SUCCESS"
        return self.notification("TRANSACTION.SUCCESS", self.transaction(out_trade_no, **kwargs))

    def refunded(self, out_trade_no, out_refund_no, refund_fen, status="SUCCESS"):
        trade = self.trades[out_trade_no]
        return self.notification(f"REFUND.{status}", {
            "mchid": self.MCHID, "out_trade_no": out_trade_no, "transaction_id": "42000",
            "out_refund_no": out_refund_no, "refund_id": "50000", "refund_status": status,
            "amount": {"total": trade["amount"]["total"], "refund": refund_fen,
                       "payer_total": trade["amount"]["total"], "payer_refund": refund_fen},
        })  # fmt: skip


class FakeAlipay(FakeServer):
    APP_ID = "2021000000000001"

    def __init__(self, app: KeyPair, alipay: KeyPair):
        self.app, self.alipay = app, alipay
        super().__init__()

    def options(self) -> dict:
        return {
            "app_id": self.APP_ID, "app_private_key": self.app.private_pem,
            "alipay_public_key": self.alipay.public_pem, "gateway": f"{self.base_url}/gateway.do",
        }  # fmt: skip

    @staticmethod
    def unsigned(params: dict, *, without=("sign",)) -> str:
        return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in without)

    def handle(self, method, path, query, body, headers, raw_path):
        signature = query.get("sign", "")
        if query.get("app_id") != self.APP_ID or not self.app.verify(
            self.unsigned(query), signature
        ):
            return (
                200,
                {"Content-Type": "application/json"},
                json.dumps(
                    {"error_response": {"code": "40002", "sub_code": "isv.invalid-signature"}}
                ),
            )
        api = query["method"]
        biz = json.loads(query["biz_content"])
        trade = self.trades.get(biz.get("out_trade_no"))
        if api == "alipay.trade.precreate":
            self.trades[biz["out_trade_no"]] = {**biz, "trade_status": "WAIT_BUYER_PAY"}
            inner = {"code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"],
                     "qr_code": f"https://qr.alipay.invalid/{secrets.token_hex(4)}"}  # fmt: skip
        elif api == "alipay.trade.query" and trade:
            inner = {"code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"],
                     "trade_no": "2026" + biz["out_trade_no"][-8:],
                     "trade_status": trade["trade_status"],
                     "total_amount": trade["total_amount"]}  # fmt: skip
        elif api == "alipay.trade.refund" and trade:
            inner = {"code": "10000", "msg": "Success", "fund_change": "Y",
                     "out_trade_no": biz["out_trade_no"],
                     "refund_fee": biz["refund_amount"]}  # fmt: skip
        else:
            inner = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
        text = json.dumps(inner)
        response_type = api.replace(".", "_") + "_response"
        raw = f'{{"{response_type}":{text},"sign":"{self.alipay.sign(text)}"}}'
        return 200, {"Content-Type": "application/json;charset=utf-8"}, raw

    def notification(self, params: dict, key: KeyPair | None = None) -> str:
        """The form body Alipay posts: signed over the sorted parameters but sign, sign_type."""
        params = {"app_id": self.APP_ID, "notify_type": "trade_status_sync",
                  "notify_time": "2026-12-04 12:00:00", "charset": "utf-8", "version": "1.0",
                  **params}  # fmt: skip
        sign = (key or self.alipay).sign(self.unsigned(params, without=("sign", "sign_type")))
        return urlencode({**params, "sign_type": "RSA2", "sign": sign})

    def paid(self, out_trade_no, total_amount=None, status="TRADE_SUCCESS", **extra) -> str:
        trade = self.trades[out_trade_no]
        trade["trade_status"] = status
        return self.notification({
            "out_trade_no": out_trade_no, "trade_no": "2026" + out_trade_no[-8:],
            "trade_status": status, "total_amount": total_amount or trade["total_amount"], **extra,
        })  # fmt: skip
