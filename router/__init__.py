"""The router: the data-plane process between MangaAssist's chat backend and the model servers.

It owns the per-route table (primary / canary / shadow backends), the sticky weighted split,
fire-and-forget mirroring with the paired shadow comparison, click / no-click attribution per
variant, and the table sources (Kubernetes ConfigMaps, a static file). See docs/router.md.
"""
