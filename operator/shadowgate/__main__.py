"""``python -m shadowgate`` runs the product CLI."""

from shadowgate.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
