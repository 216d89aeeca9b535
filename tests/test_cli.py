"""Command-line edges, in-process: bad arguments are one clear line, never a traceback."""

from __future__ import annotations

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
