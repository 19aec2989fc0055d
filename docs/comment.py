"""Render a real Refinery comment as GitHub renders it: GFM to HTML, then a PNG with headless Chromium.

``python docs/comment.py`` analyses the shared tau-bench results (offline, as the action would with
no key) against a pull request that removes the policy rule behind one failure, and writes
``docs/comment.png`` (the README's picture; Debian's ``chromium`` package draws it). Re-run it whenever the comment changes. ``tests/unit/test_comment_render.py`` checks the
structure of comments through the same ``render_html``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from markdown_it import MarkdownIt

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CSS = """
body { font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; color: #1f2328;
       max-width: 860px; margin: 16px auto; padding: 16px 20px; border: 1px solid #d1d9e0; border-radius: 6px; }
h3 { font-size: 1.25em; border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
h4 { font-size: 1em; }
table { border-collapse: collapse; display: block; overflow: auto; margin: 8px 0; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; vertical-align: top; }
tr:nth-child(2n) { background: #f6f8fa; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #eff1f3; padding: .2em .4em;
       border-radius: 6px; }
pre { background: #f6f8fa; padding: 16px; overflow: auto; border-radius: 6px; }
pre code { background: none; padding: 0; }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
"""


def render_html(markdown: str) -> str:
    """GFM as GitHub renders a comment: tables, raw HTML (``<details>``), no script."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    body = md.render(markdown)
    body = re.sub(r"<script.*?</script>", "", body, flags=re.S | re.I)
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style></head><body>{body}</body></html>"


def sample_comment(shared: Path) -> str:
    """The grouped comment `refinery analyze` writes for the shared tau-bench failures and a pull request."""
    from click.testing import CliRunner

    from benchmarks.attribution import build_cases
    from refinery.cli import cli

    case = next(c for c in build_cases(shared) if c.name == "tau-bench/tau-bench-task19-trial0/delete")
    results = shared / "datasets" / "real-traces" / "tau-bench" / "grok-3-airline-first24.json"
    with tempfile.TemporaryDirectory() as tmp:
        diff = Path(tmp) / "pr.diff"
        diff.write_text(case.diff)
        out = Path(tmp) / "out"
        done = CliRunner().invoke(cli, ["analyze", str(results), "--offline", "--diff", str(diff), "--out", str(out)])
        if done.exit_code != 0:
            raise SystemExit(done.output)
        return (out / "report.md").read_text()


def screenshot(html: Path, png: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("Install Debian's chromium package to draw the picture (apt-get install chromium).")
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={png}",
         "--window-size=960,1500", html.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared"
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "comment.html"
        html.write_text(render_html(sample_comment(shared)), encoding="utf-8")
        screenshot(html, HERE / "comment.png")
    print(f"wrote {HERE / 'comment.png'}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
