"""Retrieval: the top-k chunks for a question, ranked by the database's full-text search.

One function, `search`, over two engines: SQLite FTS5 with BM25 and PostgreSQL
full-text search with ts_rank_cd. Both stem English (porter / the 'english' config) and
both get the question as an OR of its meaningful terms, so a chunk need not contain
every word of a conversational question to be found.

Stemming makes "failed", "failing" and "fails" find "fail", and "routing" find "route".
Compounds are only half covered: each pair of adjacent words is also searched joined, so
"fail over" finds "failover"; the reverse ("failover" finding "fail over") would need a
dictionary to split words and is not attempted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

from documents.models import Chunk

MAX_TERMS = 32

_WORD = re.compile(r"\w+", re.UNICODE)
# Question words and glue that would match nearly every chunk.
_STOPWORD_TEXT = """a about above after again against all am an and any are as at be because
    been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves tell please explain describe give show say says said find know does doesn
    document documents file text according mentioned"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # higher is better on every engine


def query_terms(question: str) -> list[str]:
    """The question's distinct meaningful words, lowercased, in order of appearance."""
    terms: list[str] = []
    for word in _WORD.findall(question.lower()):
        if (len(word) > 1 or word.isdigit()) and word not in STOPWORDS and word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


def joined_pairs(question: str) -> list[str]:
    """Adjacent words written together ("fail over" -> "failover"), stopwords included:
    compounds often end in one ("log in", "set up")."""
    words = [w for w in _WORD.findall(question.lower()) if w.isalpha()]
    return [first + second for first, second in zip(words, words[1:], strict=False)]


def search_terms(question: str) -> list[str]:
    """The question's terms, then its joined pairs, without repeats."""
    terms = query_terms(question)
    terms += [pair for pair in joined_pairs(question) if pair not in terms]
    return terms[: 2 * MAX_TERMS]


def search(question: str, document_ids: Sequence[int], k: int = 5) -> list[Hit]:
    """The best `k` chunks of the given documents for `question`, best first."""
    terms = search_terms(question)
    if not terms or not document_ids or k <= 0:
        return []
    ranked = _RANKERS[connection.vendor](terms, list(document_ids), k)
    chunks = Chunk.objects.select_related("document").in_bulk([chunk_id for chunk_id, _ in ranked])
    return [Hit(chunks[chunk_id], score) for chunk_id, score in ranked if chunk_id in chunks]


def fts5_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: each term a quoted string (quotes doubled), OR-ed.

    Quoting makes every user word a plain token, so operators (AND, NEAR, -, *, ^, :)
    and stray quotes in the question cannot change the query's meaning or break it.
    """
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _rank_sqlite(terms: list[str], document_ids: list[int], k: int) -> list[tuple[int, float]]:
    placeholders = ", ".join(["%s"] * len(document_ids))
    sql = f"""
        SELECT c.id, bm25(documents_chunk_fts) AS rank
        FROM documents_chunk_fts JOIN documents_chunk c ON c.id = documents_chunk_fts.rowid
        WHERE documents_chunk_fts MATCH %s AND c.document_id IN ({placeholders})
        ORDER BY rank, c.id
        LIMIT %s
    """  # noqa: S608 - only placeholders are interpolated
    with connection.cursor() as cursor:
        cursor.execute(sql, [fts5_query(terms), *document_ids, k])
        # bm25() is lower-is-better; negate so every engine scores higher-is-better.
        return [(chunk_id, -rank) for chunk_id, rank in cursor.fetchall()]


def _rank_postgres(terms: list[str], document_ids: list[int], k: int) -> list[tuple[int, float]]:
    # One plainto_tsquery per term, OR-ed with ||: each term is a bound parameter, so
    # no user input reaches tsquery syntax. Stopword-only terms become empty and drop out.
    query = " || ".join(["plainto_tsquery('english', %s)"] * len(terms))
    sql = f"""
        SELECT c.id, ts_rank_cd(to_tsvector('english', c.text), q.query, 1) AS rank
        FROM documents_chunk c, (SELECT {query} AS query) q
        WHERE c.document_id = ANY(%s) AND to_tsvector('english', c.text) @@ q.query
        ORDER BY rank DESC, c.id
        LIMIT %s
    """  # noqa: S608 - only placeholders are interpolated
    with connection.cursor() as cursor:
        cursor.execute(sql, [*terms, document_ids, k])
        return [(chunk_id, float(rank)) for chunk_id, rank in cursor.fetchall()]


_RANKERS = {"sqlite": _rank_sqlite, "postgresql": _rank_postgres}
