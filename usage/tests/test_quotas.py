"""Per-user quotas: a budget per day or month and an rpm limit over everything a user
spends — the console (chat and playground), documents and every key they own — reserved
like key budgets, exact under concurrency, editable by operators at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.test import Client

from chat.models import ApiKey
from chat.tests.upstreams import Reply
from console.models import Session
from coordination import counters
from providers.models import ModelInfo, Provider
from routing.models import Route, RouteNode
from usage import quotas, spend
from usage.models import UsageLog, UserQuota
from usage.recording import Draft

JSON = "application/json"
PROMPT_PRICE = Decimal("0.000001")
COMPLETION_PRICE = Decimal("0.000004")
MAX_TOKENS = 1000
# What one request reserves: 1 estimated prompt token ("hi") and max_tokens of output.
ESTIMATE = PROMPT_PRICE * 1 + COMPLETION_PRICE * MAX_TOKENS


@pytest.fixture
def priced_route(live_gateway, fake_openai) -> Route:  # type: ignore[no-untyped-def]
    """Route "smart" to a priced model whose upstream reports max_tokens of output, so a
    request costs about what it reserved."""
    provider = Provider.objects.create(
        name="oa", base_url=fake_openai.base_url, kind="openai", api_key="sk-up", models=["m"]
    )
    ModelInfo.objects.create(
        provider=provider,
        model_id="m",
        prompt_price=PROMPT_PRICE,
        completion_price=COMPLETION_PRICE,
    )
    route = Route.objects.create(name="smart", mode="auto")
    RouteNode.objects.create(route=route, provider=provider, models=["m"])
    fake_openai.default = Reply(usage=(10, MAX_TOKENS))
    return route


def v1(base: str, raw: str) -> httpx.Response:
    body = {"model": "smart", "messages": [{"role": "user", "content": "hi"}]}
    body["max_tokens"] = MAX_TOKENS
    headers = {"Authorization": f"Bearer {raw}"}
    return httpx.post(base + "/v1/chat/completions", json=body, headers=headers, timeout=20)


def console_for(base: str, user: Any) -> httpx.Client:
    """A browser-like client of the live server, logged in as `user`, with its CSRF token."""
    django_client = Client()
    django_client.force_login(user)
    session = django_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    client = httpx.Client(
        base_url=base, cookies={django_settings.SESSION_COOKIE_NAME: session}, timeout=20
    )
    client.get("/usage/")  # sets the CSRF cookie
    client.headers["X-CSRFToken"] = client.cookies[django_settings.CSRF_COOKIE_NAME]
    return client


def console_turn(client: httpx.Client, session: Session, **extra: Any) -> dict[str, Any]:
    """One console chat turn; its events by name (the last of each)."""
    body = {"session_id": str(session.id), "content": "hi", **extra}
    response = client.post("/api/chat/stream", json=body)
    assert response.status_code == 200, response.text
    events: dict[str, Any] = {}
    for block in response.text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events[fields["event"]] = json.loads(fields["data"])
    return events


def spent_this_month(user: Any) -> Decimal:
    start, end = quotas.period_bounds("month")
    return spend.user_spent_usd(user.id, start, end)


# --- the API -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_operators_read_and_set_a_users_quota(api, alice) -> None:  # type: ignore[no-untyped-def]
    path = f"/api/users/{alice.id}/quota"
    assert api.get(path).json() == {
        "user_id": alice.id,
        "budget_usd": None,
        "period": "month",
        "rpm_limit": None,
    }
    body = {"budget_usd": "2.50", "period": "day", "rpm_limit": 30}
    response = api.put(path, json.dumps(body), content_type=JSON)
    assert response.status_code == 200, response.content
    assert api.get(path).json() == {
        "user_id": alice.id,
        "budget_usd": "2.5000",
        "period": "day",
        "rpm_limit": 30,
    }
    assert api.get("/api/users/999999/quota").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"budget_usd": -1}, "budget_usd"),
        ({"period": "week"}, "period"),
        ({"rpm_limit": 0}, "rpm_limit"),
    ],
)
def test_bad_quotas_name_the_field(api, alice, body, field) -> None:  # type: ignore[no-untyped-def]
    response = api.put(f"/api/users/{alice.id}/quota", json.dumps(body), content_type=JSON)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(field)


@pytest.mark.django_db
def test_a_user_reads_their_own_quota_but_not_anyone_elses(as_alice, alice, bob) -> None:  # type: ignore[no-untyped-def]
    UserQuota.objects.create(user=alice, budget_usd=Decimal("1.00"), period="month")
    UsageLog.objects.create(request_id="r1", user=alice, cost_usd=Decimal("0.25"))
    UsageLog.objects.create(
        request_id="old",
        user=alice,
        cost_usd=Decimal("5"),
        created_at=datetime(2000, 1, 1, tzinfo=UTC),
    )
    mine = as_alice.get("/api/users/me/quota").json()
    assert Decimal(mine["spent_usd"]) == Decimal("0.25")
    assert Decimal(mine["remaining_usd"]) == Decimal("0.75")
    _, end = quotas.period_bounds("month")
    assert datetime.fromisoformat(mine["resets_at"].replace("Z", "+00:00")) == end
    assert as_alice.get(f"/api/users/{bob.id}/quota").status_code == 403
    body = json.dumps({"budget_usd": "100"})
    assert as_alice.put(f"/api/users/{alice.id}/quota", body, content_type=JSON).status_code == 403


# --- enforcement over the real server ------------------------------------------------------


@pytest.mark.usefixtures("priced_route")
def test_a_spent_quota_refuses_the_console_and_own_keys_until_raised(
    live_gateway, alice, bob, api
) -> None:  # type: ignore[no-untyped-def]
    UserQuota.objects.create(user=alice, budget_usd=Decimal("0.01"), period="month")
    UsageLog.objects.create(request_id="earlier", user=alice, cost_usd=Decimal("0.0099"))
    key, raw = ApiKey.issue("alice-laptop", owner=alice)
    alices_chat = Session.objects.create(user=alice, model="smart")
    bobs_chat = Session.objects.create(user=bob, model="smart")

    refused = v1(live_gateway, raw)
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert "alice" in error["message"] and "resets" in error["message"]
    _, end = quotas.period_bounds("month")
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= (end - datetime.now(UTC)).total_seconds() + 1

    alice_console = console_for(live_gateway, alice)
    events = console_turn(alice_console, alices_chat)
    assert events["error"]["code"] == "quota_exceeded", events
    assert "token" not in events
    playground = Session.objects.create(user=alice, session_type="playground")
    events = console_turn(alice_console, playground, model="smart")
    assert events["error"]["code"] == "quota_exceeded", events

    # Another user is not limited by alice's quota.
    assert "done" in console_turn(console_for(live_gateway, bob), bobs_chat)

    # An operator raises the quota: both of alice's ways in work at once.
    body = json.dumps({"budget_usd": "1.00", "period": "month"})
    assert api.put(f"/api/users/{alice.id}/quota", body, content_type=JSON).status_code == 200
    assert v1(live_gateway, raw).status_code == 200
    assert "done" in console_turn(alice_console, alices_chat)


@pytest.mark.usefixtures("priced_route")
def test_concurrent_requests_never_pass_the_quota_by_more_than_one_estimate(
    live_gateway, alice, usage_logs
) -> None:  # type: ignore[no-untyped-def]
    budget = Decimal("0.01")
    UserQuota.objects.create(user=alice, budget_usd=budget, period="month")
    _, laptop = ApiKey.issue("laptop", owner=alice)
    _, phone = ApiKey.issue("phone", owner=alice)
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda n: v1(live_gateway, (laptop, phone)[n % 2]), range(8)))
    statuses = sorted(response.status_code for response in responses)
    # Two estimates fit in the budget, a third never does, whichever finished first.
    assert statuses == [200, 200] + [429] * 6, [r.text for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {
        "quota_exceeded"
    }
    usage_logs(8)
    assert spent_this_month(alice) <= budget + ESTIMATE
    assert v1(live_gateway, laptop).status_code == 429


@pytest.mark.usefixtures("priced_route")
def test_a_users_rpm_quota_counts_all_their_keys(live_gateway, alice) -> None:  # type: ignore[no-untyped-def]
    UserQuota.objects.create(user=alice, rpm_limit=1)
    _, first = ApiKey.issue("one", owner=alice)
    _, second = ApiKey.issue("two", owner=alice)
    _, operators = ApiKey.issue("ops-own")
    assert v1(live_gateway, first).status_code == 200
    refused = v1(live_gateway, second)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert "requests per minute" in refused.json()["error"]["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert v1(live_gateway, operators).status_code == 200


@pytest.mark.usefixtures("priced_route")
def test_key_traffic_is_recorded_for_its_owner(live_gateway, alice, usage_logs) -> None:  # type: ignore[no-untyped-def]
    _, raw = ApiKey.issue("alice-key", owner=alice)
    assert v1(live_gateway, raw).status_code == 200
    [row] = usage_logs(1)
    assert row.user_id == alice.id
    assert row.cost_usd > 0


# --- the parts -------------------------------------------------------------------------------


def test_periods_are_calendar_days_and_months() -> None:
    moment = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)
    assert quotas.period_bounds("day", moment) == (
        datetime(2026, 12, 31, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert quotas.period_bounds("month", moment) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    start, end = quotas.period_bounds("month", datetime(2027, 2, 10, tzinfo=UTC))
    assert end - start == timedelta(days=28)


@pytest.mark.django_db
def test_settle_puts_a_rows_cost_on_each_counter_once(alice) -> None:
    UserQuota.objects.create(user=alice, budget_usd=Decimal("1"), period="day")
    quota = quotas.for_user(alice.id)
    assert quota is not None
    day_start, _ = quotas.period_bounds("day")
    key, _ = ApiKey.issue("k", owner=alice)
    draft = Draft(request_id="r", api_key_id=key.id, user_id=alice.id)
    reserved = Decimal("0.004")
    on_key = async_to_sync(spend.areserve_key)(key.id, Decimal("1"), reserved)
    on_user, _ = async_to_sync(spend.areserve_user)(quota, reserved)
    draft.reservations += [(on_key.key, spend.nano(reserved)), (on_user.key, spend.nano(reserved))]
    row = UsageLog.objects.create(
        request_id="r", api_key=key, user=alice, cost_usd=Decimal("0.003")
    )
    spend.settle([(row, draft)])
    names = [spend.key_counter(key.id), spend.user_counter(alice.id, "day", day_start)]

    def values() -> list[int]:
        return list(counters.peek_many(names).values())

    assert values() == [spend.nano(Decimal("0.003"))] * 2

    # A row that reserved nothing (no budget at admission) still counts on both.
    other = UsageLog.objects.create(
        request_id="s", api_key=key, user=alice, cost_usd=Decimal("0.001")
    )
    spend.settle([(other, Draft(request_id="s"))])
    assert values() == [spend.nano(Decimal("0.004"))] * 2
