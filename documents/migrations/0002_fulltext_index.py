"""Full-text index over documents_chunk.text, per database vendor.

SQLite: an external-content FTS5 table (porter stemming, BM25 ranking) fed by triggers,
so every chunk insert, update and delete keeps it in sync, ORM cascades included.
Caution: Django's SQLite schema editor rebuilds a table to alter a column, which drops
its triggers; a later migration that alters Chunk must run this one's SQL again.

PostgreSQL: a GIN index on to_tsvector('english', text); retrieval queries use the same
expression so the planner can use it.
"""

from django.db import migrations

SQLITE_CREATE = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS documents_chunk_fts USING fts5(
        text, content='documents_chunk', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER IF NOT EXISTS documents_chunk_fts_insert AFTER INSERT ON documents_chunk
    BEGIN
        INSERT INTO documents_chunk_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS documents_chunk_fts_delete AFTER DELETE ON documents_chunk
    BEGIN
        INSERT INTO documents_chunk_fts(documents_chunk_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS documents_chunk_fts_update AFTER UPDATE ON documents_chunk
    BEGIN
        INSERT INTO documents_chunk_fts(documents_chunk_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO documents_chunk_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    "INSERT INTO documents_chunk_fts(documents_chunk_fts) VALUES ('rebuild')",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS documents_chunk_fts_insert",
    "DROP TRIGGER IF EXISTS documents_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS documents_chunk_fts_update",
    "DROP TABLE IF EXISTS documents_chunk_fts",
]
POSTGRES_CREATE = [
    "CREATE INDEX IF NOT EXISTS documents_chunk_text_fts "
    "ON documents_chunk USING GIN (to_tsvector('english', text))",
]
POSTGRES_DROP = ["DROP INDEX IF EXISTS documents_chunk_text_fts"]


def _run(statements: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_CREATE, "postgresql": POSTGRES_CREATE}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        ),
    ]
