"""Command-line edges, in-process: bad arguments are one clear line, never a traceback."""

from __future__ import annotations

import time

import pytest

from assistant.cli import main
from assistant.question import QuestionError, check_question, sanitise


@pytest.mark.parametrize("k", ["-3", "0", "101", "many"])
def test_search_k_must_be_a_sensible_count(k, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["search", "robots", "-k", k])
    assert exc.value.code == 2 and "-k" in capsys.readouterr().err


def test_a_data_dir_that_does_not_exist_is_an_error_and_is_not_created(tmp_path, capsys):
    typo = tmp_path / "dta"
    for args in (["stats"], ["search", "robots"], ["ask", "What is LeanAgent?", "--provider", "extractive"]):
        assert main([*args, "--data-dir", str(typo)]) == 2
        err = capsys.readouterr().err
        assert f"no data directory {typo}" in err and "assistant ingest" in err
    assert not typo.exists()


@pytest.mark.parametrize("raw, clean", [
    ("What is \ud800LeanAgent?", "What is \ufffdLeanAgent?"),  # a lone surrogate (invalid UTF-8 from a client)
    ("What\x00 is\x1b[31m LeanAgent?\u200b", "What is [31m LeanAgent?"),
    ("  Cafe\u0301  au   lait ", "Caf\u00e9 au lait"),
])
def test_questions_are_sanitised_before_any_tokenizer(raw, clean):
    assert sanitise(raw) == clean
    assert check_question(raw, 100) == clean


@pytest.mark.parametrize("raw", ["", "   ", "\x00\x01\u200b", "\ud800\udfff", "x" * 10_000_000])
def test_empty_garbled_or_huge_questions_are_refused(raw):
    with pytest.raises(QuestionError):
        check_question(raw, 2000)


def test_cli_ask_with_a_lone_surrogate_answers(seeded, capsys):
    settings, _, _ = seeded
    code = main(["ask", "How does LeanAgent do lifelong learning\ud800 for theorem proving?", "--provider", "extractive",
                 "--data-dir", str(settings.store.data_dir)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "LeanAgent" in captured.out and "Traceback" not in captured.err


@pytest.mark.parametrize("n", ["0", "-3", "51", "five"])
def test_recommend_n_must_be_a_sensible_count(n, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["recommend", "robots", "-n", n])
    assert exc.value.code == 2 and "-n" in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["recommend", "x" * 108_000],
    ["ask", "x" * 108_000],
    ["ask", "What is LeanAgent?", "--followup", "y" * 2001],
])
def test_a_huge_topic_or_question_is_refused_with_the_limit_before_anything_loads(args, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    started = time.monotonic()
    assert main([*args, "--provider", "extractive", "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert "the limit is 2,000" in err and "Traceback" not in err
    assert time.monotonic() - started < 5 and not (tmp_path / "data" / "chroma").exists()


@pytest.mark.parametrize("args, expected", [
    (["recommend", "   "], "give a topic"),
    (["recommend", "\x00\u200b"], "Please type a question"),
    (["ask", "  \x00 "], "Please type a question"),
    (["ask", "What is LeanAgent?", "--followup", ""], "Please type a question"),
])
def test_empty_topics_and_questions_are_one_clear_line(args, expected, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    assert main([*args, "--provider", "extractive", "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_recommend_like_an_unknown_paper_is_a_clear_error(seeded, capsys):
    settings, _, _ = seeded
    code = main(["recommend", "--like", "no-such-paper", "--provider", "extractive",
                 "--data-dir", str(settings.store.data_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "no paper with id 'no-such-paper'" in err and "Traceback" not in err
