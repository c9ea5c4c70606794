"""Retrieval on whichever database the suite runs on (SQLite FTS5 or PostgreSQL FTS)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from documents.models import Chunk, Document
from documents.retrieval import fts5_query, query_terms, search, search_terms
from documents.tests.conftest import HANDBOOK_QUESTIONS, upload
from documents.tests.files import make_docx, make_pdf

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("question", "section"), HANDBOOK_QUESTIONS)
def test_the_chunk_holding_the_answer_ranks_first(
    handbook: dict[str, Any], question: str, section: str
) -> None:
    hits = search(question, [handbook["id"]], k=3)

    assert hits, f"nothing found for {question!r}"
    assert hits[0].chunk.section == section
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_it_ranks_across_several_documents_of_different_kinds(
    as_alice: Client, handbook: dict[str, Any]
) -> None:
    pdf = upload(
        as_alice,
        "fleet.pdf",
        make_pdf(
            [
                "Fleet overview. The company owns twelve delivery vans.",
                "Maintenance: every van gets an oil change each 15000 kilometres.",
                "Insurance for vans is handled by the fleet manager, not HR.",
            ]
        ),
    ).json()
    docx = upload(
        as_alice,
        "kitchen.docx",
        make_docx([("h1", "Fridge"), ("p", "The fridge is emptied every Friday evening.")]),
    ).json()
    ids = [handbook["id"], pdf["id"], docx["id"]]

    oil = search("How often do vans get an oil change?", ids, k=5)
    fridge = search("When is the fridge emptied?", ids, k=5)

    assert (oil[0].chunk.document_id, oil[0].chunk.page) == (pdf["id"], 2)
    assert (fridge[0].chunk.document_id, fridge[0].chunk.section) == (docx["id"], "Fridge")


def test_it_searches_only_the_given_documents(as_alice: Client, handbook: dict[str, Any]) -> None:
    other = upload(as_alice, "other.txt", b"The espresso machine is broken again.").json()

    hits = search("espresso machine", [other["id"]], k=5)

    assert {h.chunk.document_id for h in hits} == {other["id"]}


def test_top_k_limits_the_results(handbook: dict[str, Any]) -> None:
    assert len(search("days week year euros", [handbook["id"]], k=2)) == 2


def test_a_question_matching_nothing_finds_nothing(handbook: dict[str, Any]) -> None:
    assert search("quantum chromodynamics lattice", [handbook["id"]]) == []


@pytest.mark.parametrize(
    "question",
    [
        "",
        "what is the",
        '"unbalanced quote',
        "badge NEAR(lost) AND OR NOT *",
        "col:umn ^start -minus +plus (paren",
        "'; DROP TABLE documents_chunk; --",
        "emoji 🎉 and ümlauts",
    ],
)
def test_hostile_or_empty_questions_never_break_the_query(
    handbook: dict[str, Any], question: str
) -> None:
    hits = search(question, [handbook["id"]])

    assert isinstance(hits, list)
    assert Chunk.objects.filter(document_id=handbook["id"]).count() == 13


def test_operator_words_are_searched_as_plain_words(handbook: dict[str, Any]) -> None:
    hits = search("badge NEAR(lost) AND", [handbook["id"]])

    assert hits[0].chunk.section == "Security badges"


def test_fts5_terms_are_quoted_and_or_ed() -> None:
    assert fts5_query(['say"hi', "near"]) == '"say""hi" OR "near"'


def test_query_terms_drop_stopwords_and_duplicates() -> None:
    assert query_terms("What is the vacation policy, the VACATION policy?") == [
        "vacation",
        "policy",
    ]


def test_deleted_chunks_leave_the_index(handbook: dict[str, Any]) -> None:
    assert search("espresso", [handbook["id"]])

    Document.objects.filter(pk=handbook["id"]).delete()

    assert search("espresso", [handbook["id"]]) == []
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM documents_chunk_fts "
                "WHERE documents_chunk_fts MATCH 'espresso'"
            )
            assert cursor.fetchone()[0] == 0


def test_reprocessing_replaces_chunks_in_the_index(handbook: dict[str, Any]) -> None:
    from documents.ingestion import process

    process(handbook["id"])
    process(handbook["id"])

    hits = search("espresso machine descaled", [handbook["id"]], k=20)
    assert [h.chunk.section for h in hits].count("Coffee") == 1


# --- stemming and compounds (on either engine) --------------------------------------------

RUNBOOK = """# Runbook

## Failover

The failover to the replica takes thirty seconds.

## Outages

When the primary fails, the on-call engineer is paged.

## Routes

Each route sends traffic to the cheapest healthy provider.

## Backups

The nightly backup is copied to cold storage and kept for ninety days.
"""


@pytest.fixture
def runbook(as_alice: Client) -> dict[str, Any]:
    response = upload(as_alice, "runbook.md", RUNBOOK.encode())
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize(
    ("question", "section"),
    [
        ("what happens when the primary failed?", "Outages"),
        ("primary failing", "Outages"),
        ("how does routing work?", "Routes"),
        ("which routes exist", "Routes"),
        ("how long are backups kept?", "Backups"),
        ("is traffic sent somewhere", "Routes"),
    ],
)
def test_other_forms_of_a_word_find_it(
    runbook: dict[str, Any], question: str, section: str
) -> None:
    hits = search(question, [runbook["id"]], k=3)

    assert hits and hits[0].chunk.section == section


def test_two_words_find_the_compound_written_as_one(runbook: dict[str, Any]) -> None:
    hits = search("fail over", [runbook["id"]], k=3)

    assert "Failover" in [h.chunk.section for h in hits]


def test_a_word_not_in_the_text_in_any_form_finds_nothing(runbook: dict[str, Any]) -> None:
    assert search("kubernetes upgrades", [runbook["id"]]) == []


def test_adjacent_words_are_also_searched_joined() -> None:
    assert search_terms("how does fail over work?") == [
        "fail",
        "work",
        "howdoes",
        "doesfail",
        "failover",
        "overwork",
    ]
