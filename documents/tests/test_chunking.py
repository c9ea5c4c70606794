from __future__ import annotations

from documents.chunking import MAX_CHARS, chunk
from documents.extraction import Section


def sentences(count: int, topic: str) -> str:
    return " ".join(f"Sentence {i} is about {topic} and nothing else." for i in range(count))


def test_short_sections_become_one_chunk_each_and_remember_where_they_came_from() -> None:
    pieces = chunk([Section("Page one.", page=1), Section("Intro text.", section="Intro")])

    assert [(p.text, p.page, p.section) for p in pieces] == [
        ("Page one.", 1, ""),
        ("Intro text.", None, "Intro"),
    ]


def test_paragraphs_are_packed_up_to_the_limit_without_crossing_sections() -> None:
    paragraphs = "\n\n".join(sentences(4, f"topic {n}") for n in range(12))
    pieces = chunk([Section(paragraphs, page=3), Section("Next page.", page=4)])

    assert len(pieces) > 3
    assert all(len(p.text) <= MAX_CHARS for p in pieces)
    assert {p.page for p in pieces[:-1]} == {3}
    assert pieces[-1].text == "Next page."


def test_consecutive_chunks_overlap() -> None:
    paragraphs = "\n\n".join(sentences(3, f"subject {n}") for n in range(10))
    pieces = chunk([Section(paragraphs)], max_chars=400, overlap=120)

    for before, after in zip(pieces, pieces[1:], strict=False):
        tail_words = before.text.split()[-5:]
        assert " ".join(tail_words) in after.text


def test_an_oversized_paragraph_is_cut_at_sentences_and_words_within_the_limit() -> None:
    one_paragraph = sentences(80, "a long paragraph") + " " + "x" * 2500
    pieces = chunk([Section(one_paragraph, section="Long")], max_chars=500, overlap=80)

    assert all(len(p.text) <= 500 for p in pieces)
    assert all(p.section == "Long" for p in pieces)
    joined = " ".join(p.text for p in pieces)
    assert "Sentence 79 is about a long paragraph" in joined
    assert joined.count("x" * 300) >= 5


def test_empty_text_gives_no_chunks() -> None:
    assert chunk([Section("   \n\n  ")]) == []
