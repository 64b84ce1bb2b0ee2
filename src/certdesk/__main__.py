"""``python -m certdesk``: the same command line as the ``certdesk`` script."""

from certdesk.cli import main

if __name__ == "__main__":
    main()
