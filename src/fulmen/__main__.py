"""``python -m fulmen run module:app`` — the same as the ``fulmen`` console script."""

from fulmen.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
