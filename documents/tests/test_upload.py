from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from documents import ingestion
from documents.models import Chunk, Document
from documents.tasks import process_document
from documents.tests.conftest import HANDBOOK, upload
from documents.tests.files import ELF_HEADER, MZ_HEADER, make_docx, make_pdf, make_zip_bomb_docx

pytestmark = pytest.mark.django_db


def uploads() -> Path:
    return Path(settings.DATA_DIR) / "uploads"


def stored_files() -> list[Path]:
    return sorted(p for p in uploads().iterdir() if p.is_file()) if uploads().exists() else []


def test_a_markdown_upload_is_stored_under_a_generated_name_and_processed(
    as_alice: Client, alice
) -> None:  # type: ignore[no-untyped-def]
    response = upload(as_alice, "Hand book.md", HANDBOOK.encode())

    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "Hand book.md"
    assert body["status"] == "ready"
    assert body["sha256"] == hashlib.sha256(HANDBOOK.encode()).hexdigest()
    assert body["size"] == len(HANDBOOK.encode())
    assert body["chunk_count"] == 13
    document = Document.objects.get(pk=body["id"])
    assert document.user == alice
    assert [p.name for p in stored_files()] == [document.stored_name]
    assert document.stored_name != "Hand book.md"
    assert document.path.read_bytes() == HANDBOOK.encode()


def test_a_pdf_upload_gets_page_numbered_chunks(as_alice: Client) -> None:
    pdf = make_pdf(["Alpha page text.", "Beta page text.", "Gamma page text."])

    body = upload(as_alice, "scan.pdf", pdf).json()

    assert body["status"] == "ready"
    assert body["page_count"] == 3
    chunks = Chunk.objects.filter(document_id=body["id"]).order_by("ordinal")
    assert [(c.page, c.page_or_section) for c in chunks] == [
        (1, "page 1"),
        (2, "page 2"),
        (3, "page 3"),
    ]


def test_a_docx_upload_gets_section_chunks(as_alice: Client) -> None:
    docx = make_docx([("h1", "Scope"), ("p", "Covers all teams."), ("h1", "Owners"), ("p", "Ops")])

    body = upload(as_alice, "policy.docx", docx).json()

    assert body["status"] == "ready"
    sections = list(Chunk.objects.filter(document_id=body["id"]).values_list("section", flat=True))
    assert sections == ["Scope", "Owners"]


def test_the_same_file_twice_is_one_document(as_alice: Client) -> None:
    first = upload(as_alice, "a.md", HANDBOOK.encode())
    second = upload(as_alice, "copy-of-a.md", HANDBOOK.encode())

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert Document.objects.count() == 1
    assert len(stored_files()) == 1


def test_the_same_file_from_two_users_is_two_documents(as_alice: Client, as_bob: Client) -> None:
    a = upload(as_alice, "a.md", HANDBOOK.encode()).json()
    b = upload(as_bob, "a.md", HANDBOOK.encode()).json()

    assert a["id"] != b["id"]


def test_documents_are_listed_with_count_limit_and_offset(as_alice: Client) -> None:
    for n in range(3):
        upload(as_alice, f"n{n}.txt", f"note number {n}".encode())

    page = as_alice.get("/api/documents?limit=2&offset=1").json()

    assert page["count"] == 3
    assert [d["title"] for d in page["items"]] == ["n1.txt", "n0.txt"]


def test_a_bad_limit_names_the_field(as_alice: Client) -> None:
    response = as_alice.get("/api/documents?limit=501")

    assert response.status_code == 422
    assert "limit" in response.json()["detail"]


def test_another_users_document_answers_404(
    as_alice: Client, as_bob: Client, handbook: dict
) -> None:  # type: ignore[type-arg]
    url = f"/api/documents/{handbook['id']}"

    assert as_bob.get(url).status_code == 404
    assert as_bob.delete(url).status_code == 404
    assert as_bob.get("/api/documents").json() == {"items": [], "count": 0}
    assert as_alice.get(url).status_code == 200


def test_an_admin_key_sees_every_document_and_uploads_as_no_user(
    api: Client, handbook: dict
) -> None:  # type: ignore[type-arg]
    response = upload(api, "ops.txt", b"operator notes")

    assert response.status_code == 201
    assert Document.objects.get(pk=response.json()["id"]).user is None
    assert api.get("/api/documents").json()["count"] == 2


def test_uploading_needs_a_login(client: Client) -> None:
    response = upload(client, "a.txt", b"hello")

    assert response.status_code == 401
    assert stored_files() == []


def test_deleting_a_document_removes_its_file_and_chunks(
    as_alice: Client, handbook: dict, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def, type-arg]
    document = Document.objects.get(pk=handbook["id"])
    assert document.path.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = as_alice.delete(f"/api/documents/{handbook['id']}")

    assert response.status_code == 204
    assert not document.path.exists()
    assert Chunk.objects.count() == 0
    assert as_alice.get(f"/api/documents/{handbook['id']}").status_code == 404


def test_a_chunk_can_be_opened_by_its_owner_only(
    as_alice: Client, as_bob: Client, handbook: dict
) -> None:  # type: ignore[type-arg]
    chunk = Chunk.objects.filter(document_id=handbook["id"], section="Parking").get()
    url = f"/api/documents/{handbook['id']}/chunks/{chunk.pk}"

    body = as_alice.get(url).json()

    assert body["page_or_section"] == "Parking"
    assert "underground garage" in body["text"]
    assert as_bob.get(url).status_code == 404


def test_a_large_file_is_processed_by_the_worker_task(
    as_alice: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingestion, "INLINE_MAX_BYTES", 100)

    body = upload(as_alice, "big.md", HANDBOOK.encode()).json()

    assert body["status"] == "pending"
    assert process_document(body["id"]) == "ready"
    assert as_alice.get(f"/api/documents/{body['id']}").json()["status"] == "ready"


def test_a_file_without_text_fails_with_a_reason(as_alice: Client) -> None:
    body = upload(as_alice, "empty.txt", b"   \n").json()

    assert body["status"] == "failed"
    assert body["error"] == "no text found in the file"


def test_a_deleted_document_is_skipped_by_the_task(as_alice: Client) -> None:
    assert process_document(12345) == "deleted"


# --- refusals ----------------------------------------------------------------------


def assert_refused(response, status: int, words: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert words in response.json()["detail"]
    assert Document.objects.count() == 0
    assert stored_files() == []


def test_an_elf_executable_named_pdf_is_refused(as_alice: Client) -> None:
    assert_refused(upload(as_alice, "invoice.pdf", ELF_HEADER), 400, "ELF executable")


def test_a_windows_executable_named_pdf_is_refused(as_alice: Client) -> None:
    assert_refused(upload(as_alice, "invoice.pdf", MZ_HEADER), 400, "Windows executable")


def test_text_that_is_not_a_pdf_is_refused_as_pdf(as_alice: Client) -> None:
    assert_refused(upload(as_alice, "x.pdf", b"just text"), 400, "not a PDF")


def test_a_zip_that_is_not_a_docx_is_refused(as_alice: Client) -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert_refused(upload(as_alice, "x.docx", out.getvalue()), 400, "word/document.xml")


def test_a_docx_zip_bomb_is_refused_at_upload(as_alice: Client) -> None:
    bomb = make_zip_bomb_docx(20 * 1024 * 1024)
    assert len(bomb) < 100_000

    assert_refused(upload(as_alice, "bomb.docx", bomb), 400, "zip bomb")


def test_a_docx_declaring_a_huge_total_size_is_refused(as_alice: Client) -> None:
    bomb = make_zip_bomb_docx(110 * 1024 * 1024)

    assert_refused(upload(as_alice, "bomb.docx", bomb), 400, "would expand to")


def test_an_unsupported_extension_is_refused_with_415(as_alice: Client) -> None:
    assert_refused(upload(as_alice, "tool.exe", b"text"), 415, "tool.exe")


def test_binary_content_in_a_text_file_is_refused(as_alice: Client) -> None:
    assert_refused(upload(as_alice, "a.txt", b"ab\x00cd"), 400, "NUL")


def test_text_that_is_not_utf8_is_refused(as_alice: Client) -> None:
    assert_refused(upload(as_alice, "a.csv", "caf\xe9;1".encode("latin-1")), 400, "UTF-8")


def test_a_missing_file_field_names_the_field(as_alice: Client) -> None:
    response = as_alice.post("/api/documents/upload", {"other": "x"})

    assert response.status_code == 422
    assert response.json()["detail"].startswith("file")


def multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "sbboundary123"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    "filename",
    ["../../etc/passwd", "..\\..\\windows\\system32\\cmd", "/etc/passwd", "..", "../"],
)
def test_path_style_names_without_a_supported_extension_are_refused(
    as_alice: Client, filename: str, tmp_path: Path
) -> None:
    outside_before = sorted(p.name for p in tmp_path.parent.iterdir())
    body, content_type = multipart(filename, b"root:x:0:0:root:/root:/bin/bash\n")

    response = as_alice.post("/api/documents/upload", body, content_type=content_type)

    assert 400 <= response.status_code < 500
    assert "file" in response.json()["detail"]
    assert Document.objects.count() == 0
    assert stored_files() == []
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == outside_before


def test_a_path_style_name_with_an_extension_is_only_a_label(
    as_alice: Client, tmp_path: Path
) -> None:
    body, content_type = multipart("../../../etc/cron.d/evil.txt", b"harmless words")

    response = as_alice.post("/api/documents/upload", body, content_type=content_type)

    assert response.status_code == 201
    assert response.json()["title"] == "evil.txt"
    files = stored_files()
    assert len(files) == 1 and files[0].parent == uploads()
    assert files[0].name != "evil.txt"
    assert not (tmp_path.parent / "etc").exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file() and "evil" in p.name] == []
