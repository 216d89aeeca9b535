"""Evidence first in the chat: the quoted evidence sentences, each with its [n], grouped by paper,
come before any model token, stay above the model's answer while it streams and when it is done,
and are the whole answer without a model (shown once)."""

from __future__ import annotations

import re
import threading

from fakes import RecordingChat

from assistant.records import Answer, Reference
from assistant.service import Assistant
from assistant.web.render import (ANSWER_LABEL, EVIDENCE_LABEL, cite, md_text, quote, render_evidence,
                                  render_message, render_reply)
from assistant.web.session import EVIDENCE_FOUND, GENERATING, Request, Session, respond_stream, stop_reply

QUESTION = "How does LeanAgent do lifelong learning for formal theorem proving?"
CLAIM = "LeanAgent continuously generalizes to ever-expanding mathematical knowledge without forgetting"
RELEASE = threading.Event()  # HeldChat's answer waits for it


class HeldChat(RecordingChat):
    """A model whose answer starts only once the test sets RELEASE (its judge answers at once)."""

    def _stream(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        assert RELEASE.wait(60), "the test never released the model"
        yield from super()._stream(*args, **kwargs)


def content(update) -> str:  # noqa: ANN001
    return update.history[-1]["content"]


def held_reply(seeded, session: Session, on_evidence=None):  # noqa: ANN001, ANN201
    """The reply's updates, the model held until the evidence update has been seen (and
    ``on_evidence(update)`` called on it); returns (updates, the evidence update's index)."""
    settings, _, retriever = seeded
    chat = HeldChat(replies={"answer": f"{CLAIM} [1]."})
    RELEASE.clear()
    updates, seen = [], None
    try:
        for update in respond_stream(Assistant(settings, retriever, chat_model=chat), session, Request(QUESTION)):
            updates.append(update)
            if seen is None and EVIDENCE_LABEL in content(update):
                seen = len(updates) - 1
                assert chat.sent("answer") == [], "the model was asked before the evidence was shown"
                if on_evidence is not None:
                    on_evidence(update)
                RELEASE.set()
    finally:
        RELEASE.set()
    return updates, seen


def test_evidence_comes_before_any_token_and_stays_above_the_answer(seeded):
    session = Session()
    updates, seen = held_reply(seeded, session)
    assert seen is not None, "no update showed the evidence"
    answer = updates[-1].answer
    assert answer is not None and answer.references and not answer.refused
    first = content(updates[seen])
    assert updates[seen].status == EVIDENCE_FOUND and "LeanAgent continuously" not in first  # the model was held
    assert all(u.status != GENERATING for u in updates[:seen]), "a token came before the evidence"
    assert all("“" not in content(u) for u in updates[:seen]), "only status updates before it"
    for ref in answer.references:  # each paper's sentences, quoted, each with its [n], under its title
        assert ref.evidence
        for sentence in ref.evidence:
            assert f"{quote(sentence)} {cite(ref.number, link=False)}" in first
    titles = [first.index(f"**{md_text(ref.title)}**") for ref in answer.references]
    assert titles == sorted(titles), "grouped by paper, in source order"
    assert all(first.count(f"**{md_text(ref.title)}**") == 1 for ref in answer.references)

    streamed = [content(u) for u in updates[seen + 1 : -1] if u.status == GENERATING]
    assert streamed and all(t.startswith(first.split(f"\n\n{ANSWER_LABEL}")[0]) for t in streamed)
    assert "LeanAgent continuously" in streamed[-1].split(ANSWER_LABEL, 1)[1], "the tokens stream under the evidence"

    final = content(updates[-1])
    assert final.index(EVIDENCE_LABEL) < final.index(ANSWER_LABEL) < final.index("LeanAgent continuously")
    assert final.count(EVIDENCE_LABEL) == 1 and final.count(ANSWER_LABEL) == 1
    assert f"{quote(answer.references[0].evidence[0])} {cite(answer.references[0].number)}" in final  # now linked
    assert "supported by the cited abstracts" in final and session.answers


def test_stop_after_the_evidence_keeps_it_and_says_stopped(seeded):
    session = Session()
    updates, seen = held_reply(seeded, session, on_evidence=lambda _u: stop_reply(session))
    assert seen is not None and updates[-1].status == "Stopped." and updates[-1].answer is None
    final = content(updates[-1])
    assert final.startswith(EVIDENCE_LABEL) and final.endswith("*Stopped.*")
    assert "LeanAgent continuously" not in final and not session.answers


def test_without_a_model_the_evidence_is_the_answer_and_is_shown_once(seeded):
    settings, _, retriever = seeded
    updates = list(respond_stream(Assistant(settings.with_overrides(provider="extractive"), retriever), Session(),
                                  Request(QUESTION)))
    answer = updates[-1].answer
    assert answer is not None and answer.provider == "extractive" and not answer.refused
    assert any(EVIDENCE_LABEL in content(u) for u in updates[:-1]), "the evidence came before the finished message"
    final = content(updates[-1])
    assert final.startswith(EVIDENCE_LABEL) and ANSWER_LABEL not in final
    for ref in answer.references:
        for sentence in ref.evidence:
            assert final.count(quote(sentence)) == 1, "a quote is shown twice"
    assert "Answered by extractive" in final and "The most relevant evidence" not in final


def test_a_refusal_replaces_the_evidence(seeded):
    settings, _, retriever = seeded
    settings = settings.with_overrides(judge_clear_lead=0.0)  # judged although the paper leads by far
    chat = RecordingChat(replies={"answer": "Unused [1]."}, p_yes=0.01)  # the judge says the sources do not cover it
    updates = list(respond_stream(Assistant(settings, retriever, chat_model=chat), Session(), Request(QUESTION)))
    answer = updates[-1].answer
    assert answer is not None and answer.refused and chat.sent("answer") == []
    assert any(EVIDENCE_LABEL in content(u) for u in updates[:-1])
    final = content(updates[-1])
    assert final == render_reply(answer) and EVIDENCE_LABEL not in final and "does not cover" in final


def hostile_answer(**fields) -> Answer:  # noqa: ANN003
    refs = [Reference(1, "p1", "Evil <script>x()</script> *bold* [t](javascript:y)", "Mar 13", "evil.jsonl",
                      "A. B.", ["Then <img src=x onerror=z()> and [click](javascript:w)", "`code` $x$ | pipe"]),
            Reference(2, "p2", "Second paper", "", "evil.jsonl", "C.", ["Plain sentence two."]),
            Reference(3, "p3", "No evidence", "", "evil.jsonl", "D.", [])]
    return Answer(question="q", text="It is so [1].", references=refs, provider="local", **fields)


def test_evidence_block_is_escaped_grouped_and_compact():
    block = render_evidence(hostile_answer().references)
    assert block.startswith(f"{EVIDENCE_LABEL}\n\n**Evil &lt;script&gt;x()&lt;/script&gt; \\*bold\\*")
    assert "<" not in block.replace("&lt;", "") and "`" not in block.replace("\\`", "")
    links = re.findall(r"(?<!\\)\]\(([^)]*)\)", block)
    assert links == ["#src-1", "#src-1", "#src-2"], "the only links are the markers to their source cards"
    assert "> “Then &lt;img src=x onerror=z()&gt; and \\[click\\](javascript:w)” [\\[1\\]](#src-1)\n>\n> “" in block
    assert "Second paper" in block and "No evidence" not in block  # a source without a sentence has no group
    assert render_evidence(hostile_answer().references, link=False).count("](#src-") == 0
    assert render_evidence([]) == ""


def test_finished_message_layout_per_kind():
    answer = hostile_answer()
    assert render_message(answer) == f"{render_evidence(answer.references)}\n\n{ANSWER_LABEL}\n\n{render_reply(answer)}"
    listed = hostile_answer(kind="recommendations")
    assert render_message(listed) == render_reply(listed)
    refused = hostile_answer(refused=True)
    assert render_message(refused) == render_reply(refused)
