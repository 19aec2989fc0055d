"""The released action.yml: the same file, with the prebuilt image instead of the Dockerfile.

The repository's action.yml builds the image from the Dockerfile (for development and the tests);
a release points the action at the image it pushed, so a user's job pulls it instead of building
it. Usage: ``python .github/scripts/release_action.py ghcr.io/owner/repo:v1.2.3 < action.yml``.
"""

from __future__ import annotations

import re
import sys

IMAGE_LINE = re.compile(r"^(?P<indent>\s+)image:\s*['\"]?Dockerfile['\"]?\s*$", re.MULTILINE)


def released(action_yml: str, image: str) -> str:
    """``action_yml`` with its ``image: Dockerfile`` line pointing at ``docker://image``."""
    if not re.fullmatch(r"[a-z0-9./_-]+:v\d+\.\d+\.\d+", image):
        raise SystemExit(f"not an image reference with a release tag: {image!r}")
    found = IMAGE_LINE.findall(action_yml)
    if len(found) != 1:
        raise SystemExit("action.yml must have exactly one `image: Dockerfile` line")
    return IMAGE_LINE.sub(lambda m: f"{m['indent']}image: docker://{image}", action_yml)


if __name__ == "__main__":
    sys.stdout.write(released(sys.stdin.read(), sys.argv[1]))
