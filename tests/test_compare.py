"""Compare questions answered as a table of quoted sentences, one row per paper compared."""

from __future__ import annotations

import re

from fakes import RecordingChat

from assistant.chain import Conversation
from assistant.compare import CompareTable, compared, is_compare
from assistant.records import Reference
from assistant.service import Assistant
from assistant.web.render import EVIDENCE_LABEL, render_evidence

QUESTION = "How do UDIM and GAQAT differ in what they target and how they get flatter minima?"


def ref(number: int, title: str, abstract: str = "") -> Reference:
    return Reference(number, f"p{number}", title, "", "x.jsonl", abstract, [abstract.split(".")[0] + "."])


def test_compare_questions_are_told_from_others():
    assert is_compare(QUESTION) and is_compare("Compare ReFT with LoRA") and is_compare("What does each one conclude?")
    assert not is_compare("Which paper proposes UDIM?") and not is_compare("What should I read on grokking?")
    assert not is_compare("What did ERNIE 3.0 score on SuperGLUE compared with humans?")
    assert is_compare("What are the differences between ReFT and LoRA?")
    # one paper against its baselines is a result, not two papers (seen on a held-out question)
    assert not is_compare("What are its steps, and how did it compare with earlier self-synthesis methods such as STaR?")
    assert is_compare("How does ReGenesis compare with Prismatic Synthesis?")


def test_the_papers_compared_are_those_named_by_title_or_coined_acronym_else_the_best_two():
    refs = [ref(1, "Unknown Domain Inconsistency Minimization for Domain Generalization",
                "This paper introduces Unknown Domain Inconsistency Minimization (UDIM). It perturbs data."),
            ref(2, "Crafting Distribution Shifts", "We craft shifts."),
            ref(3, "GAQAT: gradient-adaptive quantization-aware training", "Flat minima help.")]
    assert [r.number for r in compared(QUESTION, refs)] == [1, 3]
    assert [r.number for r in compared("How do these two differ?", refs)] == [1, 2]
    assert [r.number for r in compared("How do the three differ?", refs)] == [1, 2, 3]


def test_the_table_is_escaped_and_cites_each_cell():
    table = CompareTable(["What it does"], [(1, "A | B <i>", {"What it does": "It splits | pipes."}), (2, "C", {})])
    assert table.markdown().splitlines() == [
        "| Paper | What it does |", "|---|---|",
        "| A \\| B <i> [1] | \u201cIt splits \\| pipes.\u201d [1] |", "| C [2] |  |"]
    block = render_evidence([ref(1, "A | B <i>", "x."), ref(2, "C", "y.")], comparison=table)
    assert block.startswith(f"{EVIDENCE_LABEL}\n\n| Paper |") and "&lt;i&gt;" in block and "<i>" not in block
    assert re.findall(r"(?<!\\)\]\(([^)]*)\)", block) == ["#src-1", "#src-1", "#src-2"]


def test_a_compare_answer_shows_a_table_of_quoted_sentences_before_the_model(seeded):
    settings, _, retriever = seeded
    chat = RecordingChat(replies={"answer": "UDIM perturbs data [1]; GAQAT adapts quantization [2]."})
    assistant = Assistant(settings, retriever, chat_model=chat)
    events = list(assistant.respond(QUESTION, Conversation()))
    evidence = next(e for e in events if e.kind == "evidence").answer
    table = evidence.comparison
    assert table is not None and len(table.rows) == 2
    titles = [title for _, title, _ in table.rows]
    assert any(t.startswith("Unknown Domain Inconsistency") for t in titles) and any(t.startswith("GAQAT") for t in titles)
    by_number = {r.number: r for r in evidence.references}
    for number, _, cells in table.rows:
        assert len(cells) == 2 and len(set(cells.values())) == 2  # two different sentences per row
        assert all(quote in by_number[number].abstract for quote in cells.values())  # verbatim
    final = events[-1].answer
    assert final.to_dict()["comparison"]["rows"][0]["cells"] and not final.refused
    plain = list(assistant.respond("Which paper proposes UDIM for domain generalization?", Conversation()))
    assert plain[-1].answer.comparison is None
