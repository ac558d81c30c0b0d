"""``python -m stacktune``: the ``stacktune`` command (how `optimize --workers` starts its workers)."""

from stacktune.cli import main

if __name__ == "__main__":
    main()
