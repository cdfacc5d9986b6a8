"""The main-job scenario as a library (issue 9): the local stack, the chart, the operator and the
router, MangaAssist production with simulated users, then a good Candidate promoted and a bad one
rolled back. ``shadowgate demo`` (``shadowgate.cli.demo``) and ``tests/e2e`` both drive it through
``scenario.Demo``; progress goes to a callback, results come back as frozen dataclasses."""
