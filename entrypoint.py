#!/usr/bin/env python3
"""Container entry point: with arguments it is the `refinery` CLI, without them the GitHub Action."""

import sys

if __name__ == "__main__":
    if len(sys.argv) > 1:
        from refinery.cli import main
    else:
        from refinery.action import main
    main()
