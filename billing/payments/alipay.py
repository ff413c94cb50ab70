"""Alipay open platform, face-to-face precreate (a qr_code the payer scans), through the
python-alipay-sdk.

Requests are signed RSA2 with the app's private key; answers and asynchronous notifications
are verified with Alipay's public key (RSA2 over the sorted parameters, without sign and
sign_type). Amounts are yuan strings with two decimals. A refund is synchronous (the answer
says whether money moved: fund_change); the notification Alipay may send after it carries
the refund's out_biz_no and is recognised by it.
"""

from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError

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

PAID_STATES = {"TRADE_SUCCESS", "TRADE_FINISHED"}
SUCCESS_CODE = "10000"
BEIJING = ZoneInfo("Asia/Shanghai")  # Alipay's times are Beijing time
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"  # not scanned yet: Alipay makes the trade on scan


def _yuan(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _decimal(value) -> Decimal | None:
    try:
        return Decimal(value) if value not in (None, "") else None
    except InvalidOperation:
        return None


class AlipayProvider:
    code = "alipay"
    currencies = frozenset({"CNY"})

    def __init__(self, *, app_id, app_private_key, alipay_public_key, gateway):
        self.app_id = app_id
        self.sdk = AliPay(
            appid=app_id,
            app_private_key_string=app_private_key,
            alipay_public_key_string=alipay_public_key,
            sign_type="RSA2",
        )
        # The SDK names only the production and sandbox gateways; tests use a fake one.
        self.sdk._gateway = gateway

    def _call(self, method, **kwargs) -> dict:
        try:
            answer = method(**kwargs)
        except (AliPayException, AliPayValidationError, OSError, ValueError) as error:
            raise ProviderError(f"alipay: {error!r}") from error
        if answer.get("code") != SUCCESS_CODE and answer.get("sub_code") != TRADE_NOT_EXIST:
            raise ProviderError(
                f"alipay: {answer.get('code')} {answer.get('sub_code')} {answer.get('sub_msg')}"
            )
        return answer

    def start(self, payment, *, description: str, notify_url: str, expires_at) -> Checkout:
        answer = self._call(
            self.sdk.api_alipay_trade_precreate,
            subject=description,
            out_trade_no=payment.out_trade_no,
            total_amount=_yuan(payment.amount),
            notify_url=notify_url,
            time_expire=f"{expires_at.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}",
        )
        return Checkout(code_url=answer["qr_code"])

    def query(self, payment) -> TradeReport:
        answer = self._call(self.sdk.api_alipay_trade_query, out_trade_no=payment.out_trade_no)
        return self._trade(answer | {"out_trade_no": payment.out_trade_no})

    def refund(self, refund, *, notify_url: str) -> RefundReport:
        answer = self._call(
            self.sdk.api_alipay_trade_refund,
            refund_amount=_yuan(refund.amount),
            out_trade_no=refund.payment.out_trade_no,
            out_request_no=refund.out_refund_no,
            refund_reason=refund.reason,
        )
        return RefundReport(
            out_refund_no=refund.out_refund_no,
            succeeded=answer.get("fund_change") == "Y",
            amount=refund.amount,
            provider_refund_id=answer.get("trade_no", ""),
        )

    def parse_notification(self, headers, body: bytes) -> TradeReport:
        params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        signature = params.pop("sign", "")
        try:
            verified = bool(signature) and self.sdk.verify(dict(params), signature)
        except (AliPayException, ValueError, TypeError) as error:
            raise InvalidNotification(str(error)) from error
        if not verified or params.get("app_id") != self.app_id:
            raise InvalidNotification("signature does not verify")
        if params.get("out_biz_no") and params.get("refund_fee"):
            return TradeReport(
                out_trade_no=params.get("out_trade_no", ""),
                refund=RefundReport(
                    out_refund_no=params["out_biz_no"],
                    succeeded=True,
                    provider_refund_id=params.get("trade_no", ""),
                ),
            )
        return self._trade(params)

    def _trade(self, params: dict) -> TradeReport:
        status = params.get("trade_status", "")
        return TradeReport(
            out_trade_no=params.get("out_trade_no", ""),
            state=PAID
            if status in PAID_STATES
            else CLOSED
            if status == "TRADE_CLOSED"
            else WAITING,
            provider_status=status or params.get("sub_code", ""),
            amount=_decimal(params.get("total_amount")),
            provider_trade_no=params.get("trade_no", ""),
        )

    def acknowledge(self) -> NotificationAnswer:
        return NotificationAnswer(200, "success", "text/plain")

    def reject(self, message: str) -> NotificationAnswer:
        return NotificationAnswer(400, "failure", "text/plain")
