"""The embedder registry on the real ONNX weights, and stores that record their embedder:
a store built with one model is re-embedded (incrementally, resumably) for another."""

import json

import numpy as np
import pytest

from assistant.corpus import load_corpus
from assistant.embeddings import EMBEDDERS, ModelUnavailable, embeddings_for, get_embeddings, spec_of
from assistant.ingest import index_papers, reembed
from assistant.retrieve import make_retriever
from assistant.settings import load_settings
from assistant.store import Store, StoreError

TOPICS = {
    "graphs": "We introduce a graph neural network that propagates messages along the edges of molecular graphs.",
    "proteins": "A language model over amino-acid sequences predicts how proteins fold into three-dimensional shapes.",
    "robots": "A quadruped robot learns to walk on rough terrain with reinforcement learning in simulation.",
    "music": "We generate symbolic piano music with a transformer conditioned on chord progressions.",
}


def corpus(tmp_path):
    rows = [{"title": f"A paper on {t}", "abstract": f"{a} It is evaluated on public benchmarks. Code is released."}
            for t, a in TOPICS.items()]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return load_corpus([path]).papers


@pytest.mark.parametrize("name", list(EMBEDDERS))
def test_each_embedder_gives_unit_vectors_that_rank_a_paraphrase_first(name):
    model = get_embeddings(model=name)
    texts = list(TOPICS.values())
    docs = model.embed_array(texts)
    query = np.asarray(model.embed_query("which work teaches a four-legged machine to walk over uneven ground?"))
    assert docs.shape == (4, 384) and np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    assert int(np.argmax(docs @ query)) == 2
    assert model.model_id == spec_of(name).model_id


def test_bge_truncates_long_texts_instead_of_failing():
    model = get_embeddings(model="bge-small", max_tokens=512)
    vec = model.embed_array(["protein folding " * 2000])
    assert vec.shape == (1, 384) and np.isfinite(vec).all()


def test_unknown_embedder_is_a_clear_error():
    with pytest.raises(ModelUnavailable, match="unknown embedder 'nope'; known: bge-small, minilm"):
        spec_of("nope")


def test_thresholds_follow_the_embedder_unless_set():
    minilm = load_settings(env={})
    bge = load_settings(env={"ASSISTANT_EMBED_MODEL": "bge-small"})
    assert minilm.embedding.model == "minilm"
    assert (bge.fusion_dense, minilm.fusion_dense) == (spec_of("bge-small").fusion_dense, 0.6)
    assert bge.refuse_below == spec_of("bge-small").refuse_below
    assert load_settings(env={"ASSISTANT_FUSION_DENSE": "0.7"}).fusion_dense == 0.7
    assert minilm.with_overrides(embed_model="bge-small").fusion_dense == spec_of("bge-small").fusion_dense
    with pytest.raises(ValueError, match="ASSISTANT_EMBED_MODEL"):
        load_settings(env={"ASSISTANT_EMBED_MODEL": "bert-large"})


def _stores(settings_for):
    minilm = settings_for(embed_model="minilm")
    bge = minilm.with_overrides(embed_model="bge-small")
    return (Store(minilm, embeddings_for(minilm)), minilm), (bge, embeddings_for(bge))


def test_a_store_records_its_embedder_and_refuses_another_until_reembedded(settings_for, tmp_path):
    (old, minilm), (bge, bge_model) = _stores(settings_for)
    papers = corpus(tmp_path)
    index_papers(papers, old, minilm)
    assert old.recorded_embedder() == spec_of("minilm").model_id and not old.embedder_mismatch()
    store = Store(bge, bge_model)
    with pytest.raises(StoreError, match="built with the minilm embedder and this run embeds with bge-small: "
                                         "run 'assistant ingest' to re-embed"):
        make_retriever(bge, store=store, embeddings=bge_model)
    summary = index_papers(papers, store, bge)  # what 'assistant ingest' does
    assert summary.reembedded == store.count() and summary.chunks_embedded == 0
    assert store.recorded_embedder() == spec_of("bge-small").model_id
    assert store.chunk_ids_not_embedded_by(bge_model.model_id) == []
    stored = store.sentences_of(store.papers([p.paper_id for p in papers]))
    assert len(stored) == 4  # every paper's sentence vectors were made again, by the new model
    hits = make_retriever(bge, store=store, embeddings=bge_model).search("legged robot locomotion", k=1)
    assert hits[0].title == "A paper on robots"


def test_a_killed_reembed_resumes_where_it_stopped(settings_for, tmp_path):
    (old, minilm), (bge, bge_model) = _stores(settings_for)
    index_papers(corpus(tmp_path), old, minilm)
    store = Store(bge, bge_model)
    first = store.chunks(store.chunk_ids_not_embedded_by(bge_model.model_id)[:2])
    texts = [f"{c.metadata['display_title']}. {c.text}" for c in first]  # the first batch of a run, then killed
    store.upsert([c.text for c in first], [c.metadata for c in first], [c.chunk_id for c in first],
                 bge_model.embed_array(texts).tolist())
    assert store.embedder_mismatch()  # not recorded until every vector is the new model's
    total = store.count()
    assert reembed(store, bge) == total - 2
    assert not store.embedder_mismatch() and reembed(store, bge) == 0


def test_a_read_only_reembed_is_refused_with_the_way_out(settings_for, tmp_path):
    (old, minilm), (bge, bge_model) = _stores(settings_for)
    index_papers(corpus(tmp_path), old, minilm)
    store = Store(bge, bge_model)
    store.read_only = True  # as when the data directory cannot be written (tested with a real one in test_reliability)
    with pytest.raises(StoreError, match="read-only"):
        reembed(store, bge)
    assert "ASSISTANT_EMBED_MODEL=minilm" in store.embedder_mismatch()


def test_unstamped_stores_are_read_as_minilm_ones():
    from assistant.store import LEGACY_EMBEDDER

    assert spec_of("minilm").model_id == LEGACY_EMBEDDER
