import pytest

from assistant.prompts import PromptError, available, load

EXPECTED = {
    "answer": {"sources", "question"},
    "recommend": {"interest", "papers"},
    "condense": {"history", "question"},
    "relevance": {"system", "request"},
}


def test_every_prompt_file_is_known():
    assert available() == sorted(EXPECTED)


@pytest.mark.parametrize("name, variables", sorted(EXPECTED.items()))
def test_prompt_renders_with_exactly_its_variables(name, variables):
    prompt = load(name)
    assert prompt.variables == variables
    values = {v: f"<{v}-value>" for v in variables}
    system, user = prompt.render(**values)
    rendered = system + user
    assert all(f"<{v}-value>" in rendered for v in variables)
    assert "{" not in rendered and "}" not in rendered


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_prompt_rejects_missing_and_extra_variables(name):
    prompt = load(name)
    values = {v: "x" for v in prompt.variables}
    with pytest.raises(PromptError, match="unexpected"):
        prompt.render(**values, surplus="x")
    values.popitem()
    with pytest.raises(PromptError, match="missing"):
        prompt.render(**values)


def test_answer_prompt_puts_instructions_after_the_sources():
    _, user = load("answer").render(sources="SOURCES", question="Q")
    assert user.index("SOURCES") < user.index("Instructions")
    assert not user.rstrip().endswith("Answer:")


def test_judge_prompt_is_the_answer_prompt_then_the_question():
    """The whole answer prompt comes first: llama.cpp reuses its prefill for the answer."""
    from assistant.chain import answer_messages
    from assistant.verdict import judge_messages
    from assistant.records import Reference

    refs = [Reference(number=1, paper_id="p", title="T", page_date="", source="", abstract="A.", evidence=["A."], spans=[(0, 2)])]
    answer, judge = answer_messages(refs, "Q?"), judge_messages(refs, "Q?")
    assert judge[0] == answer[0]
    assert judge[1][1].startswith(answer[1][1]) and judge[1][1].rstrip().endswith("yes or no.")


def test_unknown_prompt_is_a_clear_error():
    with pytest.raises(PromptError, match="no prompt named"):
        load("nope")
