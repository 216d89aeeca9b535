"""Chain logic with a fake chat model (real embeddings + Chroma), and end to end with the real local model."""

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.chain import AnswerChain, Conversation, QuestionError, rule_condense
from assistant.service import Assistant

LOOKUP = "Which paper's agent plays an AAA cowboy open-world game purely from screen pixels, emitting keyboard and mouse operations?"
GOLD = "Towards General Computer Control: A Multimodal Agent for Red Dead Redemption II as a Case Study"


def chain_with(seeded, replies):
    settings, _, retriever = seeded
    return AnswerChain(settings, retriever, FakeListChatModel(responses=replies))


def test_cited_answer_marks_references_and_support(seeded):
    chain = chain_with(seeded, ["Cradle is an agent for Red Dead Redemption II that takes screen images as input [1]."])
    answer = chain.ask(LOOKUP)
    assert answer.references[0].title == GOLD
    assert [r.title for r in answer.cited_references] == [GOLD]
    assert answer.support and answer.support[0].citations == [1]
    assert not answer.refused


def test_dangling_citation_is_removed_with_a_notice(seeded):
    chain = chain_with(seeded, ["The agent plays from screen pixels [1][9]."])
    answer = chain.ask(LOOKUP)
    assert "[9]" not in answer.text and "[1]" in answer.text
    assert "9" in answer.notice


def test_invented_number_is_flagged(seeded):
    chain = chain_with(seeded, ["The agent was trained with a learning rate of 0.00037 on 9999 games [1]."])
    answer = chain.ask(LOOKUP)
    assert not answer.support[0].supported
    assert "number" in answer.support[0].reason


def test_uncited_factual_sentence_is_marked(seeded):
    chain = chain_with(seeded, ["The agent plays the game from screen images and outputs keyboard and mouse actions."])
    answer = chain.ask(LOOKUP)
    assert answer.support[0].supported is False and answer.support[0].reason == "no citation"


def test_model_failure_falls_back_to_extractive(seeded):
    class Broken(FakeListChatModel):
        def _stream(self, *a, **k):
            raise ConnectionError("server down")

    settings, _, retriever = seeded
    answer = AnswerChain(settings, retriever, Broken(responses=["x"])).ask(LOOKUP)
    assert answer.provider == "extractive"
    assert "failed" in answer.notice and GOLD in answer.text


@pytest.mark.parametrize("question", ["", "   ", "x" * 5000])
def test_empty_or_huge_question_is_refused_clearly(seeded, question):
    with pytest.raises(QuestionError):
        chain_with(seeded, ["unused"]).ask(question)


def test_rule_condense_carries_the_subject():
    assert "Cradle paper" in rule_condense("What dataset did it use?", "prev", ["Cradle paper"])
    assert rule_condense("Which paper studies grokking in LLM pretraining?", "prev", ["X"]) == "Which paper studies grokking in LLM pretraining?"


def test_recommendation_more_excludes_shown_papers(seeded):
    settings, _, retriever = seeded
    assistant = Assistant(settings.with_overrides(provider="extractive"), retriever)
    conversation = Conversation()
    first = [e.answer for e in assistant.respond("What should I read on continual learning?", conversation, n=3) if e.kind == "answer"][0]
    more = [e.answer for e in assistant.respond("more", conversation, n=3) if e.kind == "answer"][0]
    assert len(first.references) == 3 and all(r.evidence[0] in r.abstract for r in first.references)
    assert not {r.paper_id for r in first.references} & {r.paper_id for r in more.references}


@pytest.mark.model
def test_real_local_model_answers_a_lookup_with_the_right_citation(seeded):
    settings, _, retriever = seeded
    assistant = Assistant.create(settings.with_overrides(max_tokens=80))
    assert assistant.chat_model is not None, assistant.model_error
    conversation = Conversation()
    events = list(assistant.respond(LOOKUP, conversation))
    answer = events[-1].answer
    assert sum(e.kind == "token" for e in events) > 1  # streamed
    assert GOLD in [r.title for r in answer.cited_references]
    follow = [e.answer for e in assistant.respond("What modules make it up?", conversation) if e.kind == "answer"][0]
    assert GOLD in [h.title for h in follow.retrieved[:3]]
