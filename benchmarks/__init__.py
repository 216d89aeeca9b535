"""Benchmarks of the paper assistant: run from the source checkout, never installed.

One script per measurement, each runnable alone (``python -m benchmarks.<name> --help``,
or ``.venv/bin/python benchmarks/<name>.py``) and importable by the runner:

- ``ingest``: cold and warm ``assistant ingest`` of ``seeds/`` (wall seconds, child peak RSS);
- ``embedding``: ``OnnxEmbeddings.embed_array`` against a bare ONNX session;
- ``retrieval_latency``: hybrid ``Retriever.search`` p50/p95 at several corpus sizes, with a plot;
- ``local_model``: the local model's time to first token and generation speed;
- ``memory``: peak RSS of the bench process after each stage (and of any command);
- ``run``: all of the above, written into docs/benchmarks.md (what ``assistant bench`` runs).

``report`` holds what they share (Markdown tables, percentiles, load average, disk usage,
the marked section of the document); ``paths`` every repository path. The other scripts
(``dev_retrieval``, ``tune_fusion``, ``explore_variants``, ``scale_latency``,
``local_latency``, ``judge_calibration``, ``embed_throughput``) are studies whose figures
docs/benchmarks.md quotes.
"""
