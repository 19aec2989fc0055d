#!/usr/bin/env python3
"""Container entry point: everything lives in the refinery package."""

from refinery.cli import main

if __name__ == "__main__":
    main()
