"""Prompt templates: ``<name>.md`` files beside this module (package data, so they travel with
a wheel); loaded by name, rendered with exactly their variables.

A template has a system part and a user part separated by a line ``---``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

PROMPTS = resources.files(__name__)


class PromptError(ValueError):
    """A template is missing, or rendered with the wrong variables."""


@dataclass(frozen=True)
class Prompt:
    name: str
    system: str
    user: str

    @property
    def variables(self) -> set[str]:
        found = set()
        for part in (self.system, self.user):
            found |= {f for _, f, _, _ in string.Formatter().parse(part) if f}
        return found

    def render(self, **values: str) -> tuple[str, str]:
        """(system, user) text; every variable must be given, and nothing else."""
        missing = self.variables - set(values)
        extra = set(values) - self.variables
        if missing or extra:
            raise PromptError(f"prompt {self.name!r}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return self.system.format(**values), self.user.format(**values)

    def messages(self, **values: str) -> list[tuple[str, str]]:
        system, user = self.render(**values)
        return [("system", system), ("human", user)]


def available() -> list[str]:
    return sorted(p.name.removesuffix(".md") for p in PROMPTS.iterdir() if p.name.endswith(".md"))


@lru_cache(maxsize=None)
def load(name: str) -> Prompt:
    path = PROMPTS / f"{name}.md"
    if not path.is_file():
        raise PromptError(f"no prompt named {name!r} in {PROMPTS}")
    system, sep, user = path.read_text(encoding="utf-8").partition("\n---\n")
    if not sep:
        raise PromptError(f"prompt {name!r} needs a '---' line between system and user parts")
    return Prompt(name, system.strip(), user.strip())
