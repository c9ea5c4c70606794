"""/api/documents: upload, list, detail, delete, chunks, and Q&A (plain and streaming).

Any logged-in user works with their own documents; another user's id answers 404. An
admin-scope API key acts as the operator: it sees every document, and what it uploads
belongs to no user.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Count, QuerySet
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from chat import outbound
from chat.gateway import CallContext, GatewayError
from chat.models import ApiKey
from config.auth import AdminKey, UserSession, user_auth
from documents import ingestion, qa, transcript
from documents.filetypes import RefusedFile
from documents.models import Chunk, Document
from documents.models import Status as DocumentStatus
from documents.schemas import (
    AnswerOut,
    ChunkOut,
    DocumentList,
    DocumentOut,
    MultiQuestionIn,
    QuestionIn,
)
from documents.uploads import install_upload_limit, received_file

router = Router(tags=["documents"], auth=user_auth)


class UploadSession(UserSession):
    """Session auth that installs the size-limited upload handler first: the CSRF check
    reads request.POST, which would otherwise parse the whole body unbounded."""

    def __call__(self, request: HttpRequest) -> Any:
        install_upload_limit(request)
        return super().__call__(request)


upload_auth = [AdminKey(), UploadSession()]


# --- ownership ------------------------------------------------------------------------


def owner_id(request: HttpRequest) -> int | None:
    auth = request.auth  # type: ignore[attr-defined]
    return None if isinstance(auth, ApiKey) else auth.pk


def visible_documents(request: HttpRequest) -> QuerySet[Document]:
    # Explicit order: Meta.ordering does not apply to a GROUP BY (the annotation) query.
    documents = Document.objects.annotate(chunk_count=Count("chunks")).order_by(
        "-created_at", "-id"
    )
    if isinstance(request.auth, ApiKey):  # type: ignore[attr-defined]
        return documents
    return documents.owned_by(owner_id(request))


def owned_document(request: HttpRequest, document_id: int) -> Document:
    return get_object_or_404(visible_documents(request), pk=document_id)


# --- documents ------------------------------------------------------------------------


class Page(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000_000)
    status: DocumentStatus | None = None


@router.post("/upload", auth=upload_auth, response={200: DocumentOut, 201: DocumentOut})
def upload_document(request: HttpRequest) -> Status[Document]:
    incoming = received_file(request)
    try:
        document, created = ingestion.store(incoming, owner_id(request))
    except RefusedFile as exc:
        raise HttpError(exc.status, str(exc)) from exc
    if created:
        ingestion.schedule(document)
    return Status(201 if created else 200, owned_document(request, document.pk))


@router.get("", response=DocumentList)
def list_documents(request: HttpRequest, page: Query[Page]) -> dict[str, Any]:
    documents = visible_documents(request)
    if page.status:
        documents = documents.filter(status=page.status)
    items = documents[page.offset : page.offset + page.limit]
    return {"items": list(items), "count": documents.count()}


@router.get("/{int:document_id}", response=DocumentOut)
def get_document(request: HttpRequest, document_id: int) -> Document:
    return owned_document(request, document_id)


@router.delete("/{int:document_id}", response={204: None})
def delete_document(request: HttpRequest, document_id: int) -> Status[None]:
    owned_document(request, document_id).delete()  # chunks cascade; the file goes on commit
    return Status(204, None)


@router.get("/{int:document_id}/chunks/{int:chunk_id}", response=ChunkOut)
def get_chunk(request: HttpRequest, document_id: int, chunk_id: int) -> Chunk:
    document = owned_document(request, document_id)
    return get_object_or_404(Chunk, document=document, pk=chunk_id)


# --- questions ------------------------------------------------------------------------


def prepare_question(
    request: HttpRequest, document_ids: Sequence[int], payload: QuestionIn
) -> qa.Question:
    for document in [owned_document(request, pk) for pk in dict.fromkeys(document_ids)]:
        if document.status != DocumentStatus.READY:
            why = f": {document.error}" if document.error else ""
            raise HttpError(409, f"document_ids: document {document.pk} is {document.status}{why}")
    session = None
    if payload.session_id:
        session = transcript.documents_session(request, payload.session_id)
    model = payload.model or (session.model if session else "") or qa.default_model()
    if model is None:
        raise HttpError(400, "model: none given, and no active route or provider to default to.")
    question = qa.prepare(payload.question, list(document_ids), model)
    if session is not None:
        question.transcript = transcript.Transcript.begin(
            session, payload.question, request_id_of(request)
        )
    return question


def request_id_of(request: HttpRequest) -> str:
    return (request.headers.get("x-request-id") or uuid.uuid4().hex)[:64]


def call_context(request: HttpRequest, question: qa.Question) -> CallContext:
    auth = request.auth  # type: ignore[attr-defined]
    kept = question.transcript
    return CallContext(
        request_id=kept.request_id if kept is not None else request_id_of(request),
        source="documents",
        user_id=owner_id(request),
        api_key_id=auth.pk if isinstance(auth, ApiKey) else None,
        session_id=str(kept.session.pk) if kept is not None else None,
    )


def refusal(exc: GatewayError) -> JsonResponse:
    """The gateway said no: its status, message and code (`quota_exceeded`, …), and when a
    retry may succeed."""
    outbound.log_for_operator(exc, "documents question")
    # Switchboard's own refusals as they are; an upstream's text replaced by a plain one.
    detail = outbound.plain_message(exc)
    response = JsonResponse({"detail": detail, "code": exc.code}, status=exc.status)
    if exc.retry_after:
        response["Retry-After"] = str(int(exc.retry_after + 0.999))
    return response


async def answer(request: HttpRequest, question: qa.Question) -> Any:
    try:
        return await qa.answer(question, call_context(request, question))
    except GatewayError as exc:
        return refusal(exc)


async def answer_stream(
    request: HttpRequest, question: qa.Question
) -> StreamingHttpResponse | JsonResponse:
    try:
        stream = await qa.open_answer_stream(question, call_context(request, question))
    except GatewayError as exc:
        return refusal(exc)
    response = StreamingHttpResponse(qa.relay(question, stream), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@router.post("/{int:document_id}/qa", response=AnswerOut)
async def ask_document(request: HttpRequest, document_id: int, payload: QuestionIn) -> Any:
    question = await sync_to_async(prepare_question)(request, [document_id], payload)
    return await answer(request, question)


@router.post("/qa", response=AnswerOut)
async def ask_documents(request: HttpRequest, payload: MultiQuestionIn) -> Any:
    question = await sync_to_async(prepare_question)(request, payload.document_ids, payload)
    return await answer(request, question)


@router.post("/{int:document_id}/qa/stream")
async def ask_document_stream(
    request: HttpRequest, document_id: int, payload: QuestionIn
) -> StreamingHttpResponse | JsonResponse:
    question = await sync_to_async(prepare_question)(request, [document_id], payload)
    return await answer_stream(request, question)


@router.post("/qa/stream")
async def ask_documents_stream(
    request: HttpRequest, payload: MultiQuestionIn
) -> StreamingHttpResponse | JsonResponse:
    question = await sync_to_async(prepare_question)(request, payload.document_ids, payload)
    return await answer_stream(request, question)
