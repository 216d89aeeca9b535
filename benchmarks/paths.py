"""Every repository path the benchmarks and the tests use, in one place.

``SHARED`` is the directory beside the checkout that holds the data sets which are not
committed (the dev set, SciFact, the 58k mlanthology corpus). Nothing here imports the
``assistant`` package, so ``tests/conftest.py`` can import it before anything else.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
DOCS = REPO / "docs"
DOC = DOCS / "benchmarks.md"
PLOT = DOCS / "bench-latency.png"
SCREENSHOTS = DOCS / "screenshots"
BENCHMARKS = REPO / "benchmarks"
COVERAGE_QUESTIONS = BENCHMARKS / "coverage_questions.jsonl"
OWN = BENCHMARKS / "own_questions.jsonl"

SHARED = REPO.parent / "shared"
DEV = SHARED / "eval" / "dev.jsonl"
SCIFACT = SHARED / "eval" / "scifact"
MLANTHOLOGY = SHARED / "data" / "mlanthology-58k.jsonl.gz"
