"""``python -m router`` runs the router, as the ``shadowgate-router`` console script does."""

from router.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
