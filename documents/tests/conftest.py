"""Fixtures for the documents tests: logged-in clients and an upload helper."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

HANDBOOK = """# Staff handbook

Welcome to the handbook. Read it during your first week.

## Vacation

Employees accrue 25 days of paid vacation per year. Unused vacation days carry over until
March 31 of the following year, after which they expire.

## Expenses

Submit receipts within 30 days through the finance portal. Meals are reimbursed up to
60 euros per day while travelling; alcohol is never reimbursed.

## Remote work

Staff may work remotely three days per week. The Lisbon office is open from 8 to 20 on
working days.

## Security badges

A lost badge must be reported to the security desk within one hour. A replacement badge
costs 15 euros and is issued the same day.

## Parking

The underground garage has 40 spaces, assigned by lottery each quarter. Bicycles park in
the courtyard racks.

## Onboarding

New hires receive their laptop on the first morning and meet a mentor who stays with them
for the whole first week.

## Coffee

The espresso machine on the fourth floor is descaled every Friday by facilities staff.

## Incidents

Production outages page the on-call engineer. The incident commander writes a postmortem
within five business days of the outage.

## Releases

Releases ship on Tuesdays and Thursdays once the staging smoke tests pass. A release
freeze applies during the last two weeks of December.

## Passwords

Passwords rotate every 90 days and need at least 14 characters. Shared credentials live in
the team vault, never in chat.

## Training

Each engineer has a training budget of 1500 euros per year for conferences, books and
courses.

## Insurance

Dental coverage starts after the six-month probation period ends.
"""

# (question, heading of the section that answers it)
HANDBOOK_QUESTIONS = [
    ("How many vacation days do employees get per year?", "Vacation"),
    ("What is the daily limit for meal reimbursement?", "Expenses"),
    ("How many days per week can staff work remotely?", "Remote work"),
    ("Who do I report a lost badge to?", "Security badges"),
    ("How are garage parking spaces assigned?", "Parking"),
    ("When do new hires get their laptop?", "Onboarding"),
    ("How often is the espresso machine descaled?", "Coffee"),
    ("Who writes the postmortem after an outage?", "Incidents"),
    ("On which days do releases ship?", "Releases"),
    ("How many characters must passwords have?", "Passwords"),
    ("How much training budget is there for conferences?", "Training"),
    ("When does dental coverage start?", "Insurance"),
]


def upload(client: Client, name: str, data: bytes, **extra: Any) -> Any:
    return client.post("/api/documents/upload", {"file": SimpleUploadedFile(name, data)}, **extra)


@pytest.fixture
def handbook(as_alice) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = upload(as_alice, "handbook.md", HANDBOOK.encode())
    assert response.status_code == 201, response.content
    return response.json()


# The fake upstream servers come from the chat app's test support (real HTTP servers).
from chat.tests.upstreams import fake_openai  # noqa: E402, F401
