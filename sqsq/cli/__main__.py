"""``python -m sqsq.cli``: the ``sqsq`` command."""

from sqsq.cli import main

if __name__ == "__main__":
    main()
