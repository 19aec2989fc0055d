"""tiktoken's o200k_base encoding, offline.

tiktoken downloads its rank files on first use, and the network here reaches only the
package registries. The bpe-openai wheel ships the official o200k_base rank file; it is
placed in tiktoken's cache under the key tiktoken looks for, and tiktoken then checks it
against the SHA-256 it expects, so the counts are tiktoken's own.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


@cache
def o200k() -> Any:
    cache_dir = Path(
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(tempfile.gettempdir()) / "refinery-tiktoken"))
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / hashlib.sha1(O200K_URL.encode()).hexdigest()
    if not target.exists():
        packed = resources.files("bpe_openai") / "data" / "o200k_base.tiktoken.gz"
        target.write_bytes(gzip.decompress(packed.read_bytes()))
    import tiktoken

    return tiktoken.get_encoding("o200k_base")


def count_tokens(text: str) -> int:
    return len(o200k().encode(text, disallowed_special=()))
