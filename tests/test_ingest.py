import gzip
import json

import pytest

from assistant.corpus import CorpusError, load_corpus, parse_daily, parse_file

from assistant.ingest import chunk_paper, make_splitter
from assistant.text import clean_latex, fold_title

from conftest import DEV, SEEDS, SHARED


@pytest.fixture(scope="module")
def seeds():
    return load_corpus([SEEDS])


def test_seed_corpus_has_279_entries_and_223_papers(seeds):
    assert seeds.files == 3
    assert seeds.entries == 279
    assert len(seeds.papers) == 223
    assert seeds.skipped == []


def test_every_dev_gold_title_is_a_paper(seeds):
    titles = {p.title for p in seeds.papers} | {a for p in seeds.papers for a in p.aliases}
    gold = {t for line in DEV.read_text().splitlines() for t in json.loads(line)["gold_titles"]}
    assert gold and gold <= titles


def test_only_if_spellings_are_one_paper(seeds):
    only_if = [p for p in seeds.papers if fold_title(p.title).startswith("onlyif")]
    assert len(only_if) == 1
    paper = only_if[0]
    assert paper.display_title.startswith("Only-IF:")
    assert "Only-IF:Revealing" in paper.aliases[0]
    assert len(paper.appearances) == 3  # seen on three pages, dates kept


def test_page_date_and_source_are_kept(seeds):
    paper = next(p for p in seeds.papers if p.title.startswith("Towards General Computer Control"))
    assert paper.page_date == "Mar 13"
    assert paper.source == "000_6b1eaca390782b18.txt"


def test_paper_ids_are_stable(seeds):
    again = load_corpus([SEEDS])
    assert [p.paper_id for p in seeds.papers] == [p.paper_id for p in again.papers]
    assert len({p.paper_id for p in seeds.papers}) == 223


@pytest.mark.parametrize(
    "raw, clean",
    [
        (r"T\"ULU 3", "TÜLU 3"),
        (r"Dark Z\"urich", "Dark Zürich"),
        (r"gains of 5\% on V\&L", "gains of 5% on V&L"),
        (r"$\textbf{Only-IF}$:Revealing", "Only-IF:Revealing"),
        (r"S$^{2}$FT", "S²FT"),
        (r"({\epsilon}, {\delta})-approximation", "(ε, δ)-approximation"),
    ],
)
def test_clean_latex(raw, clean):
    assert clean_latex(raw) == clean


def test_fold_title_folds_latex_case_and_spacing():
    assert fold_title(r"$\textbf{Only-IF}$:Revealing  the X") == fold_title("only-if: revealing the x")
    assert fold_title("S$^{2}$FT: Efficient") == fold_title("S2FT: efficient")


def test_abstract_is_cleaned_for_display(seeds):
    tulu = [p for p in seeds.papers if "ÜLU" in p.abstract]
    assert tulu and all('\\"' not in p.abstract for p in seeds.papers)


def test_chunks_keep_exact_spans_and_fit_the_model(seeds):
    splitter = make_splitter(700, 150)
    for paper in seeds.papers:
        chunks = chunk_paper(paper, splitter)
        assert chunks, paper.title
        for chunk in chunks:
            assert paper.abstract[chunk.start : chunk.end] == chunk.text
            assert len(chunk.text) <= 700
        ids = [c.chunk_id for c in chunks]
        assert ids == [c.chunk_id for c in chunk_paper(paper, splitter)]  # deterministic


def test_chunks_end_on_sentence_boundaries(seeds):
    splitter = make_splitter(700, 150)
    paper = seeds.papers[0]
    chunks = chunk_paper(paper, splitter)
    assert len(chunks) > 1
    assert all(c.text.endswith((".", "?", "!")) for c in chunks[:-1])


def test_title_travels_with_embedded_text(seeds):
    paper = seeds.papers[0]
    chunk = chunk_paper(paper, make_splitter(700, 150))[1]
    assert chunk.embed_text(paper.display_title).startswith(paper.display_title)


# ---------------------------------------------------------------- bad input


def write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


ABSTRACT = "We study a problem. " * 10


def test_empty_file_is_reported_and_good_files_kept(tmp_path):
    write(tmp_path / "empty.txt", "")
    write(tmp_path / "good.jsonl", json.dumps({"title": "A paper", "abstract": ABSTRACT}) + "\n")
    report = load_corpus([tmp_path])
    assert [p.title for p in report.papers] == ["A paper"]
    assert len(report.skipped) == 1
    assert "empty.txt" in str(report.skipped[0]) and "empty file" in str(report.skipped[0])


def test_binary_file_is_reported(tmp_path):
    write(tmp_path / "blob.txt", b"\x00\x01\x02binary\x00" * 50)
    report = load_corpus([tmp_path])
    assert report.papers == []
    assert "binary" in report.skipped[0].reason


def test_file_with_no_parsable_paper(tmp_path):
    path = write(tmp_path / "notes.txt", "just one line of notes\n")
    with pytest.raises(CorpusError, match="no parsable paper"):
        parse_file(path)


def test_truncated_last_entry_is_skipped_with_line(tmp_path):
    text = "new\n\nMar 13\n\nPaper One\n\n" + ABSTRACT + "\n\nPaper Two (cut)\n"
    entries, skipped = parse_daily(text, "page.txt")
    assert [e.title for e in entries] == ["Paper One"]
    assert skipped[0].line == 9 and "truncated" in skipped[0].reason
    assert "page.txt:9" in str(skipped[0])


def test_missing_abstract_in_the_middle_resyncs(tmp_path):
    text = "Mar 14\n\nFirst\n\nSecond title\n\n" + ABSTRACT + "\n\nThird\n\n" + ABSTRACT
    entries, skipped = parse_daily(text, "p.txt")
    assert [e.title for e in entries] == ["Second title", "Third"]
    assert "missing abstract" in skipped[0].reason and "First" in skipped[0].reason


def test_jsonl_rows_with_missing_abstract_and_bad_json(tmp_path):
    lines = [
        json.dumps({"title": "Good", "abstract": ABSTRACT, "year": 2024, "authors": ["A", "B"]}),
        json.dumps({"title": "No abstract"}),
        "{not json",
    ]
    report = load_corpus([write(tmp_path / "c.jsonl", "\n".join(lines))])
    assert [(p.title, p.year, p.authors) for p in report.papers] == [("Good", "2024", "A, B")]
    reasons = sorted(str(s) for s in report.skipped)
    assert reasons == ["c.jsonl:2: missing abstract for 'No abstract'", "c.jsonl:3: bad JSON (Expecting property name enclosed in double quotes)"]


def test_csv_and_gzip_jsonl(tmp_path):
    write(tmp_path / "c.csv", 'title,abstract,url\n"CSV paper","' + ABSTRACT + '",http://x\n')
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress((json.dumps({"_id": "7", "title": "Beir", "text": ABSTRACT}) + "\n").encode()))
    report = load_corpus([tmp_path])
    by_title = {p.title: p for p in report.papers}
    assert by_title["CSV paper"].url == "http://x"
    assert by_title["Beir"].paper_id == "7"


def test_csv_without_title_column(tmp_path):
    path = write(tmp_path / "x.csv", "name,text\nfoo,bar\n")
    with pytest.raises(CorpusError, match="title"):
        parse_file(path)


@pytest.mark.skipif(not (SHARED / "eval/scifact/corpus.jsonl").exists(), reason="shared scifact missing")
def test_beir_scifact_corpus_loads():
    report = load_corpus([SHARED / "eval/scifact/corpus.jsonl"])
    assert len(report.papers) > 5000


def test_non_text_titles_and_abstracts_are_skipped_with_a_reason(tmp_path):
    rows = [{"title": 5, "abstract": {"nested": True}}, {"title": "Fine", "abstract": ["not", "text"]},
            {"title": "Good paper", "abstract": ABSTRACT}]
    path = write(tmp_path / "c.jsonl", "\n".join(json.dumps(r) for r in rows))
    entries, skipped = parse_file(path)
    assert [e.title for e in entries] == ["Good paper"]
    assert [s.line for s in skipped] == [1, 2]
    assert "title is not text (a JSON int)" in skipped[0].reason and "abstract is not text (a JSON list)" in skipped[1].reason
