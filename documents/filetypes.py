"""Which files we accept, and whether their content agrees with their extension.

The checks look at bytes, never at the client's Content-Type: a renamed executable or a
DOCX that would inflate to gigabytes is refused before any parser sees it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

TEXT_EXTENSIONS = frozenset({".txt", ".text", ".log", ".rst"})
MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown"})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
CSV_EXTENSIONS = frozenset({".csv", ".tsv"})
CODE_EXTENSIONS = frozenset(
    {
        ".py", ".pyi", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".kts",
        ".scala", ".go", ".rs", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs",
        ".rb", ".php", ".swift", ".m", ".mm", ".r", ".lua", ".pl", ".sh", ".bash", ".zsh",
        ".ps1", ".sql", ".css", ".scss", ".vue", ".svelte", ".dart", ".ex", ".exs", ".erl",
        ".hs", ".clj", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".xml",
        ".proto", ".graphql", ".tf", ".dockerfile", ".gradle", ".cmake", ".mk",
    }
)  # fmt: skip
SUPPORTED_EXTENSIONS = (
    TEXT_EXTENSIONS
    | MARKDOWN_EXTENSIONS
    | HTML_EXTENSIONS
    | CSV_EXTENSIONS
    | CODE_EXTENSIONS
    | {".pdf", ".docx"}
)

# A real DOCX compresses its XML perhaps 10:1; 100:1 over a large size is a bomb.
DOCX_MAX_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_MAX_MEMBERS = 2000

_EXECUTABLE_MAGIC = {
    b"\x7fELF": "an ELF executable",
    b"MZ": "a Windows executable",
    b"\xfe\xed\xfa\xce": "a Mach-O executable",
    b"\xfe\xed\xfa\xcf": "a Mach-O executable",
    b"\xce\xfa\xed\xfe": "a Mach-O executable",
    b"\xcf\xfa\xed\xfe": "a Mach-O executable",
    b"\xca\xfe\xba\xbe": "a Mach-O or Java class file",
    b"\x00asm": "a WebAssembly module",
}


class RefusedFile(Exception):
    """The upload is not acceptable; the message says why, for the client."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def kind_of(extension: str) -> str:
    """The extractor a file goes to: pdf, docx, html, markdown or text."""
    if extension == ".pdf":
        return "pdf"
    if extension == ".docx":
        return "docx"
    if extension in HTML_EXTENSIONS:
        return "html"
    if extension in MARKDOWN_EXTENSIONS:
        return "markdown"
    return "text"


LABEL_MAX = 200  # Document.title's length


def clean_label(client_name: str) -> str:
    """The client's filename reduced to a display label: the last path part, printable."""
    last = client_name.replace("\\", "/").split("/")[-1]
    printable = "".join(ch for ch in last if ch.isprintable()).strip()
    if len(printable) <= LABEL_MAX:
        return printable
    # A very long name keeps its extension, which decides how the file is read.
    suffix = PurePosixPath(printable).suffix
    suffix = suffix if len(suffix) <= 16 else ""
    return printable[: LABEL_MAX - len(suffix)] + suffix


def extension_of(label: str) -> str:
    """The lowercased extension, or a refusal naming what is accepted."""
    if label in ("", ".", ".."):
        raise RefusedFile("file: the upload needs a file name with an extension.")
    suffix = PurePosixPath(label).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        shown = suffix or "no extension"
        raise RefusedFile(
            f"file: '{label}' has {shown}; accepted are .txt .md .pdf .docx .html .csv "
            "and common source-code extensions.",
            status=415,
        )
    return suffix


def check_content(path: Path, extension: str, head: bytes) -> None:
    """Refuse content that does not match its extension. `head` is the first bytes."""
    for magic, what in _EXECUTABLE_MAGIC.items():
        if head.startswith(magic):
            raise RefusedFile(f"file: the content is {what}, not a {extension} document.")
    kind = kind_of(extension)
    if kind == "pdf":
        if b"%PDF-" not in head[:1024]:
            raise RefusedFile("file: not a PDF (no %PDF- header).")
    elif kind == "docx":
        check_docx(path)
    else:
        check_text(path)


def check_docx(path: Path) -> None:
    """A DOCX is a zip holding word/document.xml whose declared sizes are sane.

    The sizes come from the zip's central directory, read before anything is inflated;
    the extractor re-reads with the same limits, so a lying header gains nothing.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise RefusedFile("file: not a DOCX (not a readable zip archive).") from exc
    if not any(member.filename == "word/document.xml" for member in members):
        raise RefusedFile("file: not a DOCX (no word/document.xml inside).")
    if len(members) > DOCX_MAX_MEMBERS:
        raise RefusedFile(f"file: the DOCX holds {len(members)} parts; at most {DOCX_MAX_MEMBERS}.")
    total = sum(member.file_size for member in members)
    if total > DOCX_MAX_UNCOMPRESSED_BYTES:
        raise RefusedFile(
            f"file: the DOCX would expand to {total} bytes; "
            f"at most {DOCX_MAX_UNCOMPRESSED_BYTES} (a zip bomb?)."
        )
    for member in members:
        if member.file_size > 1024 * 1024 and member.file_size > DOCX_MAX_RATIO * max(
            member.compress_size, 1
        ):
            raise RefusedFile(
                f"file: '{member.filename}' inside the DOCX compresses more than "
                f"{DOCX_MAX_RATIO}:1 (a zip bomb?)."
            )


def check_text(path: Path) -> None:
    data = path.read_bytes()
    if b"\x00" in data:
        raise RefusedFile("file: binary content (NUL bytes) in a text file.")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RefusedFile(
            f"file: not UTF-8 text (invalid byte at offset {exc.start}); save it as UTF-8."
        ) from exc
