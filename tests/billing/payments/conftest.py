import pytest

from billing.payments import gateway
from tests.billing.payments.fake_providers import FakeAlipay, FakeWeChatPay, KeyPair


@pytest.fixture(scope="session")
def key_pairs():
    """Four RSA key pairs made once: merchant and platform (WeChat), app and Alipay."""
    return {name: KeyPair() for name in ("merchant", "platform", "app", "alipay")}


def configure(settings, **providers):
    """Only `providers` (code=fake server) are configured, pointed at the fakes."""
    settings.PAYMENT_PROVIDERS = {
        code: {**settings.PAYMENT_PROVIDERS[code], "options": fake.options()}
        for code, fake in providers.items()
    }
    settings.PAYMENTS_NOTIFY_BASE_URL = "https://portal.invalid"
    gateway.forget()


@pytest.fixture
def wechat(settings, key_pairs):
    """A fake WeChat Pay on 127.0.0.1, the only provider configured."""
    fake = FakeWeChatPay(key_pairs["merchant"], key_pairs["platform"])
    configure(settings, wechat=fake)
    yield fake
    fake.stop()
    gateway.forget()


@pytest.fixture
def alipay(settings, key_pairs):
    """A fake Alipay on 127.0.0.1, the only provider configured."""
    fake = FakeAlipay(key_pairs["app"], key_pairs["alipay"])
    configure(settings, alipay=fake)
    yield fake
    fake.stop()
    gateway.forget()


@pytest.fixture
def billing_member(member):
    from accounts.permissions import Role

    return member(Role.BILLING)
