"""``python -m mecopt ...``: the same as the ``mecopt`` command."""

from mecopt.cli import main

if __name__ == "__main__":
    main()
