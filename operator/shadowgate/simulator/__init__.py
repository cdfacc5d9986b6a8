"""The MangaAssist user simulator: sessions that send query-log queries through the router
and click what they are shown with a position-biased model driven by graded relevance
(``clicks``), a deterministic workload drawn from the query log (``workload``), and the
rate-limited, bounded HTTP runner that reports what it sent (``runner``)."""
