"""Which sources the model writes from (assistant/focus.py), and the chain giving it only those."""

from __future__ import annotations

import pytest

from assistant.chain import AnswerChain, Conversation
from assistant.focus import about_one_paper, focus, named
from assistant.records import Reference
from tests.fakes import RecordingChat


def ref(number: int, title: str, abstract: str = "It does things.") -> Reference:
    return Reference(number=number, paper_id=f"p{number}", title=title, page_date="", source="", abstract=abstract,
                     evidence=[abstract], spans=[(0, len(abstract))])


REFS = [ref(1, "Crafting Distribution Shifts", "We craft shifts."),
        ref(2, "CoEdIT: Text Editing by Task-Specific Instruction Tuning", "We present CoEdIT, an editing model."),
        ref(3, "Sharpness-Aware Training", "This paper introduces Unknown Domain Inconsistency Minimization (UDIM).")]


@pytest.mark.parametrize("question", [
    "Which paper trains a text editor on task-specific instructions?",
    "which dataset distillation paper smooths the expert trajectories, and how?",
    "is there a mixup variant that works for regression targets?",
    "I'm looking for a robot manipulation paper that splits instructions into sub-goals.",
    "In the study on GUI agents, how many mid-training tasks were explored?",
    "According to the S3FT paper, how much does fine-tuning degrade MMLU?",
    "The 'less is more' reasoning paper: how many samples does it use?",
    "What optimizer came out of the symbolic program search paper?",
    "What is the name of the time-to-result benchmark for comparing training algorithms?",
    # phrasings of a set written after these rules (benchmarks/fresh_questions.jsonl) they had missed
    "There's a diffusion-based method for filling holes in depth maps. What are its two stages?",
    "For the paper relating pretraining concept frequency to zero-shot accuracy: how many concepts?",
    "Has anyone actually tried distilling chain-of-thought into a small model? What did they find?",
    "Has anyone handled label noise by relabelling with a teacher? What threshold do they use?",
    "Is there work that prunes attention heads before fine-tuning? How many heads survive?",
    "The benchmark for checking long-chain-of-thought models on unseen math: how many axes does it have?",
    "For tabular data, one paper trains trees inside a network. What depth does it use?",
])
def test_questions_about_one_paper(question):
    assert about_one_paper(question)


@pytest.mark.parametrize("question", [
    "What does the corpus say about length generalization?",
    "Which papers propose ways to optimize prompts automatically?",
    "Two papers try to explain why over-parameterized networks generalize: what does each say?",
    "How do graph foundation models transfer across tasks?",
    "Are there any papers on speculative decoding?",
    "There's a lot of work on LoRA variants: which ones save the most memory?",
    "There is a whole body of work on mixup; what do they agree on?",
    "Is there work on federated learning where clients keep their data local?",
    # seen in review: phrasings the wider rules had taken for one paper
    "In the context of model merging, how do TIES and DARE differ?",
    "In the transformer model, why is positional encoding needed?",
    "There's a difference between model merging and model soups: which papers discuss it?",
    "There is a tradeoff between model size and latency: how do papers handle it?",
    "Is there more than one paper on LoRA?",
    "One paper claims X while another finds Y: who is right?",
    "Has anyone worked on federated learning for healthcare?",
])
def test_questions_about_several_papers_or_a_topic(question):
    assert not about_one_paper(question)


def test_a_comparison_is_about_one_paper_only_when_it_asks_which_or_opens_with_the_paper():
    question = "How do 'Crafting Distribution Shifts' and the paper on flat minima differ?"
    assert not about_one_paper(question, comparing=True)
    assert about_one_paper("Which paper both mutates and grades texts?", comparing=True)
    # one study compares two methods: still one paper
    assert about_one_paper("In the study that unpacks DPO vs PPO, which aspect mattered most?", comparing=True)
    assert about_one_paper("For the two-stage ensemble approach to cross-lingual classification, how do the two "
                           "tiers differ?", comparing=True)


def test_a_definite_benchmark_or_dataset_is_one_paper():
    assert about_one_paper("How many entries are in the benchmark for physical-world understanding of VLMs?")
    assert not about_one_paper("What benchmarks exist for physical-world understanding?")


def test_a_title_head_matches_without_its_accents():
    tulu = ref(1, "TÜLU 3: Pushing Frontiers in Open Language Model Post-Training")
    assert named("what base models is tulu 3 built on?", [tulu, *REFS]) == [tulu]


def test_an_acronym_another_source_also_uses_names_no_paper():
    """Seen on a DPO-vs-PPO question: a paper that defines "(DPO)" in passing was taken as the one named."""
    mcts = ref(1, "Monte Carlo Tree Search Boosts Reasoning", "We use Direct Preference Optimization (DPO).")
    unpacking = ref(2, "Unpacking DPO and PPO: Disentangling Best Practices", "We compare two algorithms.")
    assert named("By how much did PPO beat DPO?", [mcts, unpacking]) == []
    assert named("By how much did PPO beat DPO?", [mcts]) == [mcts]


def test_an_acronym_the_question_spells_out_as_a_common_term_names_no_paper():
    """Seen: "adapters from parameter-efficient fine-tuning (PEFT)" focused on the one source that
    happened to define PEFT, not the paper asked for, whose abstract uses the same words."""
    pego = ref(1, "Learn to Preserve and Diversify", "Unlike parameter-efficient fine-tuning (PEFT), we ...")
    route = ref(2, "Learning to Route Among Specialized Experts", "Experts from parameter-efficient fine-tuning.")
    asked = "We have adapters from parameter-efficient fine-tuning (PEFT). Which paper routes among them?"
    assert named(asked, [pego, route]) == []
    assert named("Which PEFT method preserves generalization?", [pego, route]) == [pego]
    # spelled out with words only its paper uses, the acronym still names it
    assert named("How does Unknown Domain Inconsistency Minimization (UDIM) work?", REFS) == [REFS[2]]


@pytest.mark.parametrize("question", [
    "How does accuracy depend on the model that generates the training labels?",
    "Why does the choice of the optimizer for large-batch training matter?",
    "What are common failure modes of the system for retrieval-augmented generation?",
])
def test_a_topic_naming_a_model_or_system_is_not_one_paper(question):
    assert not about_one_paper(question)


def test_named_papers_by_title_head_or_coined_acronym_as_whole_words():
    assert [r.number for r in named("How many instructions was CoEdIT tuned on?", REFS)] == [2]
    assert [r.number for r in named("What does UDIM perturb?", REFS)] == [3]
    # "lion" is not named by "billion"; a title head must be whole words
    assert named("How many billion parameters?", [ref(1, "Lion: an optimizer")]) == []


def test_a_field_acronym_an_abstract_spells_out_names_no_paper():
    """Fresh2 L04 ("... without calling a giant LLM") was written from Promptagator, whose abstract
    spells out "large language model (LLM)"; the paper asked about was first in the retrieval."""
    refs = [ref(1, "Meta-training with Demonstration Retrieval", "We meta-train a model with retrieved demonstrations."),
            ref(2, "Promptagator: Few-shot Dense Retrieval", "We use a large language model (LLM) to write queries.")]
    assert named("Which work meta-trains a small model instead of calling a giant LLM?", refs) == []
    assert [r.number for r in focus("Which work meta-trains a small model instead of calling a giant LLM?", refs)] == [1]


def test_focus_picks_the_named_paper_else_the_best_for_one_paper_else_all():
    assert [r.number for r in focus("How many instructions was CoEdIT tuned on?", REFS)] == [2]
    assert [r.number for r in focus("How do CoEdIT and UDIM differ?", REFS)] == [2, 3]
    assert [r.number for r in focus("Which paper crafts distribution shifts?", REFS)] == [1]
    assert [r.number for r in focus("What does the corpus say about shifts?", REFS)] == [1, 2, 3]
    assert focus("Which paper?", []) == []


def test_the_model_writes_from_the_named_paper_first_with_more_of_its_abstract(seeded):
    """The chain gives the model only the paper asked about, renumbered [1], with more of its
    sentences; the reader still sees every source."""
    settings, _, retriever = seeded
    chat = RecordingChat(replies={"answer": "CoEdIT is tuned on 82K instructions [1]."})
    chain = AnswerChain(settings, retriever, chat_model=chat)
    answer = chain.ask("How many task-specific instructions was the CoEdIT text-editing model fine-tuned on?",
                       Conversation())
    assert answer.model_sources == [1]
    assert answer.references[0].title.startswith("CoEdIT")
    assert len(answer.references) > 1 and [r.number for r in answer.references] == list(range(1, len(answer.references) + 1))
    assert len(answer.references[0].evidence) > settings.evidence.per_paper
    prompt = str(chat.sent("answer")[-1][-1].content)
    assert "[1] CoEdIT" in prompt and "[2]" not in prompt
    assert answer.to_dict()["model_sources"] == [1]


def test_a_topic_question_gives_the_model_every_source(seeded):
    settings, _, retriever = seeded
    chat = RecordingChat(replies={"answer": "Several papers study it [1][2]."})
    chain = AnswerChain(settings, retriever, chat_model=chat)
    answer = chain.ask("What does the corpus say about domain generalization?", Conversation())
    assert answer.model_sources == [r.number for r in answer.references] and len(answer.model_sources) > 1


def test_the_answer_label_names_the_sources_the_model_wrote_from():
    from assistant.records import Answer
    from assistant.web.render import ANSWER_LABEL, answer_label, render_message

    answer = Answer(question="Which paper edits text?", text="CoEdIT edits text [1].", references=REFS,
                    provider="local", model_sources=[1])
    assert answer_label(answer, link=False) == f"{ANSWER_LABEL} (written from \\[1\\])"
    assert "(written from [\\[1\\]](#src-1))" in render_message(answer)
    answer.model_sources = [1, 2, 3]
    assert answer_label(answer) == ANSWER_LABEL


def test_uncited_sentences_of_a_one_source_answer_cite_it():
    from assistant.citations import cite_uncited, split_answer_sentences

    text = ("[1] ZO-RankSGD optimizes with rankings only. It improves images of a diffusion model with human "
            "rankings. What about RL?\n\n- It also applies to policy optimization!")
    cited, added = cite_uncited(text, 1)
    assert added == 2
    assert [nums for _, nums in split_answer_sentences(cited)] == [[1], [1], [], [1]]
    assert "human rankings [1]." in cited and "policy optimization [1]!" in cited and "What about RL?" in cited
    assert cite_uncited("Already cited [2].", 1) == ("Already cited [2].", 0)


def test_a_sentence_that_begins_like_an_earlier_one_gets_its_own_marker():
    """Seen on the fresh set: a sentence cut off at the token limit repeated the start of an
    earlier one, and its marker went inside the earlier one ("into a tokenized [1] format")."""
    from assistant.citations import cite_uncited

    text = ("AURORA turns depth maps into a tokenized format and box tokens. "
            "AURORA turns depth maps into a tokenized")
    cited, added = cite_uncited(text, 1)
    assert added == 2
    assert cited == ("AURORA turns depth maps into a tokenized format and box tokens [1]. "
                     "AURORA turns depth maps into a tokenized [1]")


def test_a_one_source_answer_has_its_uncited_sentences_checked_against_that_source(seeded):
    settings, _, retriever = seeded
    chat = RecordingChat(replies={"answer": "CoEdIT is an instruction-tuned text editing model [1]. "
                                            "It was fine-tuned on a large set of task-specific instructions."})
    answer = AnswerChain(settings, retriever, chat_model=chat).ask(
        "How many task-specific instructions was the CoEdIT text-editing model fine-tuned on?", Conversation())
    assert answer.model_sources == [1]
    assert "instructions [1]." in answer.text and "added to 1 sentence" in answer.notice
    assert all(s.citations == [1] for s in answer.support if not s.dropped)


def test_an_uncited_sentence_of_a_many_source_answer_cites_the_source_that_supports_it(seeded):
    """Seen on dev F02 with the local model: a correct answer from three sources, no marker at all."""
    settings, _, retriever = seeded
    chat = RecordingChat(replies={"answer": "CoEdIT is an instruction-tuned text editing model fine-tuned on "
                                            "task-specific instructions. Bananas grow best in tropical climates."})
    answer = AnswerChain(settings, retriever, chat_model=chat).ask(
        "What does the corpus say about instruction tuning for text editing?", Conversation())
    assert len(answer.model_sources) > 1
    coedit = next(r.number for r in answer.references if r.title.startswith("CoEdIT"))
    assert f"instructions [{coedit}]." in answer.text and "Bananas grow best in tropical climates." in answer.text
    assert "A citation added to 1 sentence that cited nothing" in answer.notice
    [edit, banana] = [s for s in answer.support if not s.dropped]
    assert (edit.citations, edit.supported) == ([coedit], True)
    assert (banana.citations, banana.reason) == ([], "no citation")


def test_a_paper_title_no_source_has_is_flagged():
    """Seen with the local model: asked for a paper the corpus lacks, it gave its one source an
    invented title."""
    from assistant.citations import title_reason

    titles = ["What's New in My Data? Novelty Exploration via Contrastive Generation",
              "Towards General Computer Control: A Multimodal Agent for Red Dead Redemption II as a Case Study"]
    invented = "[1] Fine-tuning LLMs with Differential Privacy: A Comprehensive Guide This paper provides a guide."
    assert title_reason(invented, titles) == ("title of no source: \u201cFine-tuning LLMs with Differential Privacy: "
                                              "A Comprehensive Guide\u201d")
    assert title_reason("Towards General Computer Control: A Multimodal Agent for Red Dead Redemption II [1] "
                        "introduces GCC.", titles) == ""
    assert title_reason("The method has two modules: Global Position Alignment and Local Pose Augmentation [1].",
                        titles) == ""
    # a source's own title, small words included ("and" is not cut to "a")
    assert title_reason("LLaSA: Large Language and E-Commerce Shopping Assistant [1] develops an assistant.",
                        ["LLaSA: Large Language and E-Commerce Shopping Assistant"]) == ""


def test_a_one_source_answer_citing_sources_it_never_saw_loses_those_markers(seeded):
    """Seen with the local model, given one source: "These algorithms are [2] and [3]." The
    model saw no [2] or [3]: such markers are invented, whatever the reader's list holds."""
    settings, _, retriever = seeded
    chat = RecordingChat(replies={"answer": "CoEdIT achieves state-of-the-art results on editing benchmarks [1]. "
                                            "These models are [2] and [3]. It beats larger models [2]."})
    answer = AnswerChain(settings, retriever, chat_model=chat).ask(
        "How many task-specific instructions was the CoEdIT text-editing model fine-tuned on?", Conversation())
    assert answer.model_sources == [1] and len(answer.references) >= 3
    assert "[2]" not in answer.text and "[3]" not in answer.text
    assert "These models are" not in answer.text and "larger models [1]" in answer.text
    assert [r.number for r in answer.references if r.cited] == [1]
    assert "not given: [2, 3]" in answer.notice
    dropped = [s for s in answer.support if s.dropped]
    assert [s.text for s in dropped] == ["These models are [2] and [3]."]


def test_a_sentence_the_model_loops_on_is_kept_once(seeded):
    settings, _, retriever = seeded
    loop = "It was tuned on a large set of task-specific instructions for editing [1]. "
    chat = RecordingChat(replies={"answer": "CoEdIT achieves state-of-the-art results on editing benchmarks [1]. "
                                            + loop * 4})
    answer = AnswerChain(settings, retriever, chat_model=chat).ask(
        "How many task-specific instructions was the CoEdIT text-editing model fine-tuned on?", Conversation())
    assert answer.text.count("task-specific instructions for editing") == 1
    assert [s.reason for s in answer.support if s.dropped] == ["repeats an earlier sentence"] * 3
    assert "repeats an earlier sentence" in answer.notice


def test_nothing_left_of_a_one_source_answer_leaves_that_sources_evidence(seeded):
    settings, _, retriever = seeded
    chat = RecordingChat(replies={"answer": "These models are [2] and [3]."})
    answer = AnswerChain(settings, retriever, chat_model=chat).ask(
        "How many task-specific instructions was the CoEdIT text-editing model fine-tuned on?", Conversation())
    assert answer.provider == "extractive" and "the evidence stands alone" in answer.notice
    assert answer.text.count("[1]") >= 1 and "[2]" not in answer.text
    assert [r.number for r in answer.references if r.cited] == [1]
