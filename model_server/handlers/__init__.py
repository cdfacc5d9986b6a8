"""Handlers: the TorchServe-style contract (``initialize / preprocess / inference /
postprocess`` with a default ``handle``), the three built-in MangaAssist handlers
(retriever, classifier, reranker), the shared MiniLM encoder cache, weight loading and the
resolution of a manifest's ``handler`` field to a class."""
