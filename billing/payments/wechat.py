"""WeChat Pay API v3, Native pay (a code_url the payer scans), through the wechatpayv3 SDK.

Calls are signed with the merchant's API key (cert_serial_no); answers and notifications
are verified with WeChat Pay's platform public key (public_key_id, "微信支付公钥"), and a
notification's resource is AES-256-GCM encrypted with the APIv3 key. Amounts are integer
fen. The SDK checks signatures; we add the timestamp window (a replayed notification older
than NOTIFICATION_MAX_AGE is refused) and map its answers to billing.payments.gateway.
"""

import json
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

from wechatpayv3 import WeChatPay, WeChatPayType

from billing.payments.gateway import (
    CLOSED,
    PAID,
    WAITING,
    Checkout,
    InvalidNotification,
    NotificationAnswer,
    ProviderError,
    RefundReport,
    TradeReport,
)
from portal.money import round_money

NOTIFICATION_MAX_AGE = 300  # seconds, as WeChat Pay's documentation advises
PAID_STATES = {"SUCCESS", "REFUND"}  # REFUND: paid, then (partly) refunded
CLOSED_STATES = {"CLOSED", "REVOKED", "PAYERROR"}
FEN = Decimal(100)
BEIJING = ZoneInfo("Asia/Shanghai")  # WeChat Pay's times carry +08:00


def to_fen(amount: Decimal) -> int:
    return int(round_money(amount, "CNY") * FEN)


def from_fen(fen) -> Decimal:
    return Decimal(int(fen)) / FEN


class WeChatPayProvider:
    code = "wechat"
    currencies = frozenset({"CNY"})

    def __init__(
        self, *, mchid, appid, private_key, cert_serial_no, apiv3_key, public_key, public_key_id,
        api_base,
    ):  # fmt: skip
        self.sdk = WeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=mchid,
            private_key=private_key,
            cert_serial_no=cert_serial_no,
            appid=appid,
            apiv3_key=apiv3_key,
            public_key=public_key,
            public_key_id=public_key_id,
            timeout=(5, 15),
        )
        # The SDK has no setting for its base URL; tests point it at a fake server.
        self.sdk._core._gate_way = api_base.rstrip("/")

    def _call(self, method, **kwargs) -> tuple[int, dict]:
        try:
            status, text = method(**kwargs)
        except Exception as error:  # the SDK raises bare Exception (network, bad signature)
            raise ProviderError(f"wechat: {error}") from error
        answer = json.loads(text) if text else {}
        if not 200 <= status < 300:
            raise ProviderError(
                f"wechat: HTTP {status} {answer.get('code')} {answer.get('message')}"
            )
        return status, answer

    def start(self, payment, *, description: str, notify_url: str, expires_at) -> Checkout:
        _status, answer = self._call(
            self.sdk.pay,
            description=description,
            out_trade_no=payment.out_trade_no,
            amount={"total": to_fen(payment.amount), "currency": payment.currency},
            notify_url=notify_url,
            time_expire=expires_at.astimezone(BEIJING).isoformat(timespec="seconds"),
        )
        return Checkout(code_url=answer["code_url"])

    def query(self, payment) -> TradeReport:
        _status, answer = self._call(self.sdk.query, out_trade_no=payment.out_trade_no)
        return self._trade(answer)

    def refund(self, refund, *, notify_url: str) -> RefundReport:
        payment = refund.payment
        _status, answer = self._call(
            self.sdk.refund,
            out_refund_no=refund.out_refund_no,
            out_trade_no=payment.out_trade_no,
            amount={"refund": to_fen(refund.amount), "total": to_fen(payment.amount),
                    "currency": payment.currency},
            reason=refund.reason,
            notify_url=notify_url,
        )  # fmt: skip
        return self._refund(answer, answer.get("status", ""))

    def parse_notification(self, headers, body: bytes) -> TradeReport:
        try:
            sent_at = int(headers.get("Wechatpay-Timestamp", ""))
        except ValueError:
            raise InvalidNotification("no timestamp") from None
        if abs(time.time() - sent_at) > NOTIFICATION_MAX_AGE:
            raise InvalidNotification("timestamp outside the window")
        try:
            notification = self.sdk.callback(headers, body)
        except Exception as error:  # unknown algorithm or serial, malformed body
            raise InvalidNotification(str(error)) from error
        if not notification:  # bad signature, or the resource does not decrypt
            raise InvalidNotification("signature or resource does not verify")
        resource = notification["resource"]
        if notification.get("event_type", "").startswith("REFUND."):
            return TradeReport(
                out_trade_no=resource["out_trade_no"],
                refund=self._refund(resource, resource.get("refund_status", "")),
            )
        return self._trade(resource)

    def _trade(self, resource: dict) -> TradeReport:
        state = resource.get("trade_state", "")
        amount = resource.get("amount") or {}
        return TradeReport(
            out_trade_no=resource["out_trade_no"],
            state=PAID if state in PAID_STATES else CLOSED if state in CLOSED_STATES else WAITING,
            provider_status=state,
            amount=from_fen(amount["total"]) if "total" in amount else None,
            currency=amount.get("currency", "CNY"),
            provider_trade_no=resource.get("transaction_id", ""),
        )

    def _refund(self, resource: dict, status: str) -> RefundReport:
        amount = resource.get("amount") or {}
        return RefundReport(
            out_refund_no=resource["out_refund_no"],
            succeeded=status == "SUCCESS",
            finished=status not in ("PROCESSING", ""),
            amount=from_fen(amount["refund"]) if "refund" in amount else None,
            provider_refund_id=resource.get("refund_id", ""),
        )

    def acknowledge(self) -> NotificationAnswer:
        return NotificationAnswer(200, json.dumps({"code": "SUCCESS"}), "application/json")

    def reject(self, message: str) -> NotificationAnswer:
        return NotificationAnswer(
            400, json.dumps({"code": "FAIL", "message": message}), "application/json"
        )
