"""``python -m pellucid``: the same as the ``pellucid`` command."""

from pellucid.cli.main import main

if __name__ == "__main__":
    main()
