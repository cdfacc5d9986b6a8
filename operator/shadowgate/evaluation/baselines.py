"""Trivial baselines scored on the golden set beside every model: a phrase lookup and BM25.

A number means little without the score of something that cannot generalise. Both
baselines rank the golden catalog for each golden retrieval query and are scored by
``ranking`` exactly as a model answering over HTTP is, so they sit in the same tables:

- ``lookup``: a lookup table of the training pairs, no model. Template words (tokens whose
  training queries have positives on three or more shelves: "best", "comics", "series")
  are stripped from the training queries and the golden query; the training queries
  sharing the most remaining tokens with the golden query (ties: all of them) are its
  match, and their positive items, most frequent first, are the answer. No shared token:
  no answer. On a golden set that reuses the training concepts this rule is perfect; on
  held-out concepts it should fail, and how far it fails says how held-out they are.
- ``bm25``: Okapi BM25 (the ``bm25s`` package, Lucene variant, k1 1.5, b 0.75) over the
  same item text a retriever indexes (``golden.item_text``), tokens from ``text.normalize``
  with the package's English stop words removed; items scoring 0 are not returned.

Plain MiniLM, the third baseline, needs torch, so it is an archive served like any model
(``retriever-baseline``), not computed here. Ties break by catalog order, so every number
is reproducible from the committed files (``tests/unit/test_evaluation_baselines.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shadowgate.evaluation import ranking, text
from shadowgate.evaluation.golden import GoldenSet

NAMES = ("lookup", "bm25")
# A token seen with positives on this many shelves is template wording, not a concept.
TEMPLATE_SHELVES = 3


class Lookup:
    """The phrase-lookup rule over training ``(query, positive)`` pairs."""

    def __init__(self, pairs: Iterable[Mapping[str, Any]], shelf_of: Mapping[str, str]) -> None:
        positives: dict[str, Counter[str]] = defaultdict(Counter)
        for p in pairs:
            positives[str(p["query"])][str(p["positive"])] += 1
        shelves: dict[str, set[str]] = defaultdict(set)
        for query, items in positives.items():
            for token in text.tokens(query):
                shelves[token].update(shelf_of.get(i, "") for i in items)
        self.template_words = frozenset(t for t, s in shelves.items() if len(s) >= TEMPLATE_SHELVES)
        self.positives = dict(positives)
        self.keys = {q: self._content(q) for q in sorted(positives)}

    def _content(self, query: str) -> frozenset[str]:
        return text.tokens(query) - self.template_words

    def rank(self, query: str, k: int) -> list[str]:
        words = self._content(query)
        best = max((len(words & key) for key in self.keys.values()), default=0)
        if best == 0:
            return []
        votes: Counter[str] = Counter()
        for q, key in self.keys.items():
            if len(words & key) == best:
                votes.update(self.positives[q])
        return [i for i, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))][:k]


class Bm25:
    """BM25 over the golden catalog's item texts."""

    def __init__(self, golden: GoldenSet) -> None:
        import bm25s
        import bm25s.stopwords

        self.stop = frozenset(bm25s.stopwords.STOPWORDS_EN)
        self.ids = list(golden.catalog)
        self.model = bm25s.BM25()
        self.model.index([self._tokens(i.text) for i in golden.catalog.values()], show_progress=False)

    def _tokens(self, sentence: str) -> list[str]:
        return [t for t in text.normalize(sentence).split() if t not in self.stop]

    def rank(self, query: str, k: int) -> list[str]:
        tokens = [t for t in self._tokens(query) if t in self.model.vocab_dict]
        if not tokens:
            return []
        scores = self.model.get_scores(tokens)
        order = sorted(range(len(self.ids)), key=lambda i: (-float(scores[i]), i))
        return [self.ids[i] for i in order[:k] if scores[i] > 0]


def evaluate(golden: GoldenSet, pairs: Sequence[Mapping[str, Any]], k: int = 10) -> dict[str, dict[str, Any]]:
    """``{name: {"retrieval": aggregate}}`` for each baseline, shaped like a model's metrics
    (``pairs``: the training pairs file's rows, ``{query, positive, ...}``)."""
    shelf_of = {i.id: i.category for i in golden.catalog.values()}
    rankers: dict[str, Lookup | Bm25] = {"lookup": Lookup(pairs, shelf_of), "bm25": Bm25(golden)}
    out: dict[str, dict[str, Any]] = {}
    for name, ranker in rankers.items():
        scored = [
            ranking.Scored(
                q.slices, ranking.query_metrics(ranker.rank(q.query, k), q.judgments), q.id, q.cluster
            )
            for q in golden.retrieval
        ]
        out[name] = {"retrieval": ranking.aggregate(scored)}
    return out
