"""``assistant ask`` and ``assistant recommend``."""

from __future__ import annotations

import argparse
import json
import sys

from .cli import EXTENSIONS, UserError, _check_question, _settings, command, count_arg
from .records import Answer


def extend(sub, common, llm_flags) -> None:  # noqa: ANN001
    p = sub.add_parser("ask", help="answer a question with checked citations (streams)")
    p.add_argument("question")
    p.add_argument("--followup", action="append", default=[], help="further questions in the same conversation")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the eval record instead of streaming")
    output.add_argument("--export", choices=["md", "bib"],
                        help="print, instead of the streamed answer, the answer and its references as a Markdown "
                             "document (md) or the BibTeX of the cited papers (bib), e.g. > references.bib")
    p.add_argument("--date", action="append", help="only papers from this page date")
    p.add_argument("--source", action="append", help="only papers from this source file")
    common(p)
    llm_flags(p)

    p = sub.add_parser("recommend", help="papers to read on a topic, each with a grounded reason")
    p.add_argument("topic", nargs="?", default="", help="a topic or free-text interest")
    p.add_argument("-n", type=count_arg(50), default=5, help="number of papers (1-50)")
    p.add_argument("--like", help="paper id: recommend papers like this one")
    p.add_argument("--from-library", action="store_true",
                   help="recommend from your reading library (see 'assistant library'), each with the saved paper it is closest to")
    p.add_argument("--tag", help="with --from-library: only the saved papers with this tag")
    p.add_argument("--json", action="store_true")
    common(p)
    llm_flags(p)


EXTENSIONS.append(extend)


def _assistant(args: argparse.Namespace):  # noqa: ANN202
    from .service import Assistant

    assistant = Assistant.create(_settings(args))
    if assistant.is_empty():
        raise UserError("the index is empty: run 'assistant ingest' first")
    if assistant.model_error:
        print(f"notice: {assistant.model_error} Using extractive answers.", file=sys.stderr)
    return assistant


def print_answer_tail(answer: Answer, out=None) -> None:  # noqa: ANN001
    out = out or sys.stdout  # looked up now: a default bound at import keeps a stale stream
    if answer.notice:
        print(f"\nnotice: {answer.notice}", file=out)
    cited = [r for r in answer.references if r.cited]
    shown = cited or (answer.references[:3] if answer.refused else [])
    if shown:
        print("\nReferences:" if cited else "\nClosest papers (not cited):", file=out)
        for ref in shown:
            print(f"  [{ref.number}] {ref.title} ({ref.page_date or ref.source})", file=out)
            for sentence in ref.evidence[:2]:
                print(f"      \u201c{sentence}\u201d", file=out)
    if answer.support:
        print("\nSupport:", file=out)
        for s in answer.support:
            mark = "\u2713" if s.supported else "\u2717"
            why = f"  ({s.reason})" if s.reason and not s.supported else ""
            print(f"  {mark} {s.text[:110]}{why}", file=out)


def _answer(assistant, question: str, conversation, filters, stream: bool) -> Answer:  # noqa: ANN001
    """The answer to one question; with ``stream`` its text is printed as it comes, statuses to stderr."""
    from .chain import QuestionError

    answer = None
    mid_line = False  # streamed text not ended by a line break: a status goes on a line of its own
    try:
        for event in assistant.respond(question, conversation, filters):
            if event.kind == "token" and stream:
                print(event.text, end="", flush=True)
                mid_line = bool(event.text) and not event.text.endswith("\n") or (mid_line and not event.text)
            elif event.kind == "evidence" and stream and event.answer is not None and event.answer.comparison:
                print(event.answer.comparison.markdown() + "\n", flush=True)  # a compare question's table first
            elif event.kind == "status" and stream:
                print(f"\n[{event.text}]" if mid_line else f"[{event.text}]", file=sys.stderr, flush=True)
                mid_line = False
            elif event.kind == "answer":
                answer = event.answer
    except QuestionError as exc:
        raise UserError(str(exc)) from exc
    assert answer is not None
    return answer


def export(assistant, answers: list[Answer], kind: str) -> str:  # noqa: ANN001
    """The answers as one Markdown document each (md), or the BibTeX of their papers, each once (bib)."""
    from .web.export import bib_entries, join_bibtex, to_markdown

    if kind == "md":
        return "\n".join(to_markdown(a) for a in answers)
    entries = [e for a in answers for e in bib_entries(a, assistant.paper_metadata(a))]
    return join_bibtex(list(dict.fromkeys(entries)))


@command("ask")
def cmd_ask(args: argparse.Namespace) -> int:
    from .chain import Conversation
    from .retrieve import Filters

    settings = _settings(args)
    for question in [args.question, *args.followup]:  # refused before the store and the model load
        _check_question(question, settings)
    assistant = _assistant(args)
    conversation = Conversation()
    filters = Filters(page_dates=tuple(args.date or ()), sources=tuple(args.source or ()))
    answers = []
    for question in [args.question, *args.followup]:
        answer = _answer(assistant, question, conversation, filters, stream=not (args.json or args.export))
        answers.append(answer)
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False))
        elif not args.export:
            print()
            print_answer_tail(answer)
    if args.export:
        print(export(assistant, answers, args.export), end="")
    return 0


@command("recommend")
def cmd_recommend(args: argparse.Namespace) -> int:
    if args.tag and not args.from_library:
        raise UserError("--tag needs --from-library")
    if args.from_library:
        return _recommend_from_library(args)
    if not args.topic.strip() and not args.like:
        raise UserError("give a topic, or --like PAPER_ID")
    if args.topic.strip():  # the same check (and limit) as a question, before anything loads
        args.topic = _check_question(args.topic, _settings(args))
    assistant = _assistant(args)
    result = assistant.recommender.recommend(args.topic, n=args.n, like_paper_id=args.like or "")
    if args.json:
        print(json.dumps({"interest": result.interest, "refused": result.refused,
                          "items": [vars(i) | {"abstract": None} for i in result.items],
                          "closest": [h.title for h in result.closest], "gaps": result.notice},
                         ensure_ascii=False, indent=2))
        return 0
    if result.refused:
        from .chain import refusal_text

        print(refusal_text(result.notice, "\n".join(f"  - {hit.title}" for hit in result.closest)))
        return 0
    if result.notice:
        print(f"notice: {result.notice}", file=sys.stderr)
    for item in result.items:
        print(f"{item.rank}. {item.title} ({item.page_date or item.source})  [{item.paper_id}]")
        print(f"   why: {item.reason}")
        print(f"   \u201c{item.quote}\u201d")
    return 0


def _recommend_from_library(args: argparse.Namespace) -> int:
    """``assistant recommend --from-library [--tag TAG]``: the same JSON shape, plus ``because``."""
    from .cli_library import print_list

    if args.topic or args.like:
        raise UserError("--from-library takes no topic and no --like")
    assistant = _assistant(args)
    result = assistant.library_recommender().recommend(n=args.n, tag=args.tag)
    print_list(result, args.json)
    return 0
