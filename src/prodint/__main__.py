"""``python -m prodint``: the ``prodint`` command (:func:`prodint.cli.main`)."""

from prodint.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
