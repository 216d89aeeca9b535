"""The settings model: grouped, described, bounded, read from ASSISTANT_* variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.settings import GROUPS, PROVIDERS, Settings, describe, env_name, flat_names, load_settings


def test_every_field_is_described_and_every_number_bounded():
    for group, model in GROUPS.items():
        for name, info in model.model_fields.items():
            assert info.description and len(info.description) > 10, (group, name)
            if info.annotation in (int, float):
                assert any(getattr(m, "ge", None) is not None or getattr(m, "gt", None) is not None for m in info.metadata), name
                assert any(getattr(m, "le", None) is not None or getattr(m, "lt", None) is not None for m in info.metadata), name


def test_variable_names_are_unique_and_keep_the_documented_ones():
    envs = [env_name(n, i) for m in GROUPS.values() for n, i in m.model_fields.items()]
    assert len(envs) == len(set(envs))
    for documented in ("ASSISTANT_DATA_DIR", "ASSISTANT_PROVIDER", "ASSISTANT_CONTEXT_TOKENS", "ASSISTANT_JUDGE_BELOW",
                       "ASSISTANT_JUDGE_SURE", "ASSISTANT_JUDGE_NAMED", "ASSISTANT_LLM_THREADS", "ASSISTANT_EMBED_THREADS",
                       "ASSISTANT_REFUSE_BELOW", "ASSISTANT_TOP_K", "ASSISTANT_HOST", "ASSISTANT_AUTH"):
        assert documented in envs


def test_environment_then_overrides():
    settings = load_settings(env={"ASSISTANT_JUDGE_BELOW": "0.6", "ASSISTANT_LLM_THREADS": "1",
                                  "ASSISTANT_DATA_DIR": "~/papers"}, top_k=8)
    assert settings.judge.below == 0.6 and settings.generation.threads == 1 and settings.retrieval.top_k == 8
    assert settings.store.data_dir == Path("~/papers").expanduser() and settings.models_dir == settings.store.data_dir / "models"
    again = settings.with_overrides(judge_below=0, provider="extractive", evidence_papers=3)
    assert (again.judge.below, again.generation.provider, again.evidence.papers) == (0, "extractive", 3)
    assert settings.judge.below == 0.6  # settings are immutable: overrides make a copy
    with pytest.raises(Exception):
        settings.judge.below = 0.1  # type: ignore[misc]


@pytest.mark.parametrize("env, names", [
    ({"ASSISTANT_TOP_K": "-3"}, "ASSISTANT_TOP_K"),
    ({"ASSISTANT_JUDGE_BELOW": "1.5"}, "ASSISTANT_JUDGE_BELOW"),
    ({"ASSISTANT_PORT": "http"}, "ASSISTANT_PORT"),
    ({"ASSISTANT_PROVIDER": "telepathy"}, "ASSISTANT_PROVIDER"),
])
def test_a_bad_value_names_its_variable(env, names):
    with pytest.raises(ValueError, match=names):
        load_settings(env=env)


def test_unknown_override_is_an_error():
    with pytest.raises(ValueError, match="unknown setting"):
        load_settings(env={}, temprature=0.3)


def test_providers_are_the_literal():
    assert PROVIDERS == ("local", "extractive", "openai", "ollama")
    assert set(flat_names()) >= {"provider", "judge_below", "embed_threads"}


def test_settings_command_prints_every_variable(capsys, monkeypatch):
    from assistant.cli import main

    monkeypatch.setenv("ASSISTANT_TOP_K", "7")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    for row in describe():
        assert row.env in out
    assert "[judge]" in out and "ASSISTANT_TOP_K                    = 7" in out
    assert main(["settings", "--json"]) == 0
    dumped = json.loads(capsys.readouterr().out)
    assert dumped["retrieval"]["top_k"] == 7 and Settings.model_validate(dumped).retrieval.top_k == 7
