"""``python -m model_server`` runs the same CLI as the ``model-server`` console script."""

from model_server.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
