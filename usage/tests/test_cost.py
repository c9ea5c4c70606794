from __future__ import annotations

from decimal import Decimal

import pytest

import usage
from chat.models import ApiKey
from providers.models import ModelInfo, Provider
from usage.recording import Draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced_provider() -> Provider:
    provider = Provider.objects.create(
        name="oa", base_url="https://api.openai.com/v1", models=["gpt-4o-mini"]
    )
    ModelInfo.objects.create(
        provider=provider,
        model_id="gpt-4o-mini",
        name="GPT-4o mini",
        prompt_price=Decimal("0.00000015"),
        completion_price=Decimal("0.0000006"),
    )
    return provider


def draft(provider: Provider, **extra) -> Draft:  # type: ignore[no-untyped-def]
    return Draft(
        request_id="r",
        provider=provider.name,
        provider_id=provider.id,
        model="gpt-4o-mini",
        prompt_tokens=1000,
        completion_tokens=500,
        **extra,
    )


def test_cost_is_tokens_times_the_catalog_price(priced_provider) -> None:  # type: ignore[no-untyped-def]
    log = usage.record(draft(priced_provider))
    assert log is not None
    assert log.priced is True
    assert log.cost_usd == Decimal("0.00015") + Decimal("0.0003")
    assert log.total_tokens == 1500


def test_an_unpriced_model_costs_zero_and_says_so() -> None:
    provider = Provider.objects.create(name="local", base_url="http://127.0.0.1:11434/v1")
    log = usage.record(draft(provider))
    assert log is not None
    assert (log.cost_usd, log.priced) == (0, False)


def test_spend_per_key_adds_up(priced_provider) -> None:  # type: ignore[no-untyped-def]
    key = ApiKey.issue("k")[0]
    assert usage.spent_usd(key.id) == 0
    usage.record(draft(priced_provider, api_key_id=key.id))
    usage.record(draft(priced_provider, api_key_id=key.id))
    assert usage.spent_usd(key.id) == Decimal("0.0009")


@pytest.mark.django_db(transaction=True)
def test_the_batching_writer_prices_and_writes(priced_provider) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        usage.record_later(draft(priced_provider))
    assert usage.flush()
    from usage.models import UsageLog

    costs = list(UsageLog.objects.values_list("cost_usd", flat=True))
    assert costs == [Decimal("0.00045")] * 3
