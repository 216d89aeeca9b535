"""Details asked of a paper that its abstract does not give (assistant/details.py): the pure
functions, and the chain with a recording fake model on the real seed store."""

import pytest
from fakes import RecordingChat

from assistant.chain import REFUSAL, AnswerChain
from assistant.details import asked_details, detail_terms, missing_details, note

TULU = ("TÜLU 3: Pushing Frontiers in Open Language Model Post-Training. TÜLU 3, which builds on Llama 3.1 base "
        "models, achieves results surpassing the instruct versions of Llama 3.1. We release the complete recipe.")


@pytest.mark.parametrize(("question", "labels"), [
    # the questions tried by hand: the model restated the abstract or invented "Ulab and UIUC"
    ("What learning rate and batch size did TÜLU 3 use for its preference tuning stage?",
     ["the learning rate", "the batch size"]),
    ("How many GPUs and how many training hours did GraphRouter need?", ["the hardware or compute used"]),
    ("Who are the authors of the GraphRouter paper and where was it published?",
     ["the authors or their affiliations", "where it was published"]),
    ("Is the code of the BEE explanation method open source?", ["whether code is released"]),
    ("Which university is behind Cradle, and under what license are its weights?",
     ["the authors or their affiliations", "its license"]),
    ("How many epochs did they train the segmentation head for?", ["the number of epochs"]),
    ("Who proposed GraphRouter, and was it accepted at NeurIPS?", ["the authors or their affiliations",
                                                                  "where it was published"]),
    ("How many GPU-hours did TÜLU 3 take?", ["the hardware or compute used"]),
    # asking what the authors claim, or about batches in general, asks no detail
    ("What do the authors of TÜLU 3 say about decontamination?", []),
    ("In 'Train longer, generalize better', what causes the large-batch generalization gap?", []),
    ("Which paper trains a model to write code from docstrings?", []),
    # seen in review: not asking for a detail
    ("Which open-source models does TÜLU 3 beat?", []),
    ("Does GraphRouter reduce training time?", []),
    ("Which company's chatbot was evaluated in the GEO study?", []),
])
def test_asked_details(question, labels):
    assert [d.label for d in asked_details(question)] == labels


def test_a_detail_the_abstract_words_is_not_missing():
    asked = "What learning rate, batch size and hardware did TÜLU 3 use, and who wrote it?"
    assert [d.label for d in missing_details(asked, [TULU])] == [
        "the authors or their affiliations", "the hardware or compute used", "the learning rate", "the batch size"]
    worded = TULU + " Trained on 64 H100 GPUs with a learning rate of 5e-7."
    # the abstract says both: not missing; authors only where the corpus format carries them
    assert [d.label for d in missing_details(asked, [worded])] == ["the authors or their affiliations", "the batch size"]
    assert [d.label for d in missing_details(asked, [worded + " Authors: N. Lambert, J. Morrison"])] == ["the batch size"]
    assert missing_details("What hardware did it use?", ["We train on a single RTX 4090."]) == []
    assert missing_details("What hyperparameters did it use?", ["A learning rate of 5e-7 and beta = 0.1."]) == []
    assert missing_details("Is the code released?", ["Code at: https://github.com/x/y"]) == []
    assert missing_details("What does TÜLU 3 build on?", [TULU]) == []


def test_detail_terms_are_the_asked_names():
    assert detail_terms("How many GPUs and how many training hours did GraphRouter need?") == {"gpus"}
    assert detail_terms("Did they train on A100s or TPUs?") == {"a100s", "tpus"}
    assert detail_terms("How many GPU-hours did TÜLU 3 take?") == {"gpu hours"}
    assert detail_terms("Which paper routes queries among LLMs?") == set()


def test_note_names_the_sources_and_what_they_do_not_give():
    missing = missing_details("What learning rate and batch size did it use?", [TULU])
    assert note(missing, ["[1]"]) == ("The abstract of [1] does not mention the learning rate or the batch size "
                                      "(the corpus holds titles and abstracts, not full papers).")
    assert note(missing[:1], ["[1]", "[2]"]).startswith("None of the abstracts [1], [2] mentions the learning rate (")
    assert note([], ["[1]"]) == ""


def test_chain_says_which_asked_details_the_abstract_lacks(seeded):
    settings, _, retriever = seeded
    chat = RecordingChat(replies={"answer": "TÜLU 3 builds on Llama 3.1 base models [1]."})
    answer = AnswerChain(settings, retriever, chat).ask(
        "What learning rate and batch size did TÜLU 3 use for its preference tuning stage?")
    assert not answer.refused
    assert answer.references[0].title.startswith("TÜLU 3")
    assert "The abstract of [1] does not mention the learning rate or the batch size" in answer.notice
    plain = AnswerChain(settings, retriever, RecordingChat(replies={"answer": "TÜLU 3 builds on Llama 3.1 [1]."}))
    assert "does not mention" not in plain.ask("What base models does TÜLU 3 build on?").notice


def test_a_hardware_question_about_a_named_paper_is_not_refused_for_its_gpus(seeded):
    """"GPUs" is in no abstract of the seeds: as a gap it raised the judge's bar to judge.sure and
    the question about GraphRouter was refused as outside the corpus. Asked of a paper the
    question names, it is a detail, said missing; the same word in a topic question is a gap."""
    settings, _, retriever = seeded
    settings = settings.with_overrides(judge_clear_lead=0.0)
    chat = RecordingChat(replies={"answer": "GraphRouter predicts the effect and cost of LLM responses [1]."},
                         p_yes=0.75)  # above judge.below (0.7), under judge.sure (0.8)
    chain = AnswerChain(settings, retriever, chat)
    answer = chain.ask("How many GPUs did GraphRouter need?")
    assert not answer.refused
    assert "GPUs" not in answer.gaps
    assert "The abstract of [1] does not mention the hardware or compute used" in answer.notice
    topic = chain.ask("Which paper trains routers for LLM selection on GPUs?")
    assert topic.refused and "No paper in the corpus mentions GPUs." in topic.text


def test_a_refusal_about_a_named_paper_says_what_its_abstract_lacks(seeded):
    settings, _, retriever = seeded
    settings = settings.with_overrides(judge_clear_lead=0.0)
    chat = RecordingChat(replies={"answer": "unused [1]."}, p_yes=0.2)
    answer = AnswerChain(settings, retriever, chat).ask("How many GPUs did GraphRouter need?")
    assert answer.refused and answer.text.startswith(REFUSAL)
    assert ("The abstract of \u201cGraphRouter: A Graph-based Router for LLM Selections\u201d does not mention the "
            "hardware or compute used") in answer.text
    assert chat.sent("answer") == []  # refused: the model wrote nothing
