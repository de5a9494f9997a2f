"""The embedded default corpus: CommonCrawl-like WARC files built offline from the standard library's prose.

``build_corpus(out_dir, docs, seed)`` writes ``corpus-NNNNN.warc.gz`` files and a ground-truth ``_truth.jsonl``
(one row per page: url, record_id, file, kind, lang, cluster, dup_of, variant). See :mod:`pipeline.corpus.build`.
"""

from .build import KINDS, TRUTH_FILE, VARIANTS, CorpusConfig, build_corpus, kind_counts, plan_corpus

__all__ = ["KINDS", "TRUTH_FILE", "VARIANTS", "CorpusConfig", "build_corpus", "kind_counts", "plan_corpus"]
