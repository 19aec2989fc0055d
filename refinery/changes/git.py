"""The workspace's own git: ``base...head``, deepening a shallow checkout when it can.

``actions/checkout`` fetches one commit by default, so the merge base is often missing. Then
the base is fetched, deepening the history step by step up to a limit; when that fails (no
network, no credentials) the error says to set ``fetch-depth: 0``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from refinery.changes.diff import read_unified_diff
from refinery.changes.model import ChangeSet
from refinery.errors import ConfigError

DEEPEN_STEPS = (50, 200, 1000)
TIMEOUT_S = 60


def _git(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(workspace), *args], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def _has_merge_base(workspace: Path, base: str, head: str) -> bool:
    return _git(workspace, "merge-base", base, head).returncode == 0


def ensure_history(workspace: Path, base: str, head: str) -> list[str]:
    """Make ``base...head`` computable: fetch the base and deepen a shallow clone. Returns what it did."""
    done: list[str] = []
    if _git(workspace, "cat-file", "-e", f"{base}^{{commit}}").returncode != 0:
        fetched = _git(workspace, "fetch", "--no-tags", "--depth=1", "origin", base)
        done.append(f"fetched {base[:12]}" if fetched.returncode == 0 else f"could not fetch {base[:12]}")
    shallow = _git(workspace, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    for depth in DEEPEN_STEPS if shallow else ():
        if _has_merge_base(workspace, base, head):
            break
        if _git(workspace, "fetch", "--no-tags", f"--deepen={depth}", "origin").returncode != 0:
            done.append("could not deepen the shallow checkout")
            break
        done.append(f"deepened the checkout by {depth}")
    if not _has_merge_base(workspace, base, head):
        raise ConfigError(
            f"The checkout has no common history for {base[:12]}...{head[:12]}, and it could not be fetched.",
            hint="Set fetch-depth to 0 on actions/checkout (its own input), or give the changes with --diff FILE.",
        )
    return done


def read_git_range(workspace: Path, spec: str) -> ChangeSet:
    """``A..B`` or ``A...B`` (the changes since their merge base) in the repository at ``workspace``;
    a missing ``B`` is ``HEAD``."""
    triple = "..." in spec
    base, _, head = spec.partition("..." if triple else "..")
    if not base:
        raise ConfigError(f"--git-range {spec!r} names no base.", hint="Write it as A..B or A...B.")
    head = head or "HEAD"
    notes = ensure_history(workspace, base, head) if triple else []
    rng = f"{base}...{head}" if triple else f"{base}..{head}"
    done = _git(workspace, "diff", "--no-color", "--no-ext-diff", "-M", rng)
    if done.returncode != 0:
        raise ConfigError(
            f"git diff {rng} failed: {' '.join(done.stderr.split())[:300]}",
            hint="Check the range (--git-range A..B) and that the workspace is a git repository.",
        )
    changes = read_unified_diff(done.stdout, f"git {rng}")
    changes.notes += notes
    return changes
