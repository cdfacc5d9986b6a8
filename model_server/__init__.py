"""The model server: MangaAssist's data plane for models (package ``model_server``).

It owns model archives (format, builder, fetching), the handler contract and the three
built-in handlers (retriever, classifier, reranker), the model repository with its
per-model dynamic batching queues, the HTTP APIs (TorchServe-style, KServe v1, Open
Inference Protocol v2, management) and the Prometheus metrics. It never imports the
control plane (``shadowgate``) or the router.
"""
