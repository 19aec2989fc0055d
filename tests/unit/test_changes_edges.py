"""The pull request's changes at their edges (changes/document.py, words.py, git.py): what changes.md
lists and leaves out, which words count as evidence, and a shallow checkout deepened as
actions/checkout leaves it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from refinery.changes import document
from refinery.changes.diff import read_unified_diff
from refinery.changes.document import render_changes_md
from refinery.changes.git import read_git_range
from refinery.changes.model import Suspect
from refinery.changes.words import stem, surface_words, words_of
from refinery.errors import ConfigError


def test_word_forms_of_one_rule_meet_and_function_words_do_not_count() -> None:
    assert len({stem(w) for w in ("confirming", "confirmed", "confirm", "confirms")}) == 1
    assert stem("modified") == stem("modify") and stem("enabled") == stem("enable")
    assert stem("policies") == stem("policy") and stem("exchanging") == stem("exchange")
    assert stem("uses") == "uses" and stem("bed") == "bed"  # too short to take a suffix off
    assert words_of("You must NEVER refund the order before it ships; an ID is 12") == {"refund", "order", "ship"}
    assert surface_words("Confirming and confirmed refund_amount") == {
        "confirm": "confirming",
        "refund": "refund",
        "amount": "amount",
    }


def _suspects(count: int) -> tuple[str, list[Suspect]]:
    text = "".join(
        f"diff --git a/p{n}.md b/p{n}.md\n--- a/p{n}.md\n+++ b/p{n}.md\n@@ -{n + 1} +{n + 1} @@\n-old {n}\n+new {n}\n"
        for n in range(count)
    )
    changes = read_unified_diff(text, "diff pr.diff")
    suspects = [
        Suspect(
            change_id=h.change_id,
            path=h.path,
            start_line=h.start_line,
            end_line=h.end_line,
            score=1 - n / 100,
            reason=f"why {n}",
        )
        for n, h in enumerate(changes.hunks)
    ]
    return text, suspects


def test_changes_md_lists_the_hunks_best_first_with_their_lines_and_reasons() -> None:
    text, suspects = _suspects(3)
    changes = read_unified_diff(text, "diff pr.diff")
    shown = render_changes_md(changes, list(reversed(suspects)), 60_000).text
    assert "changes: diff pr.diff · 3 files · 3 hunks" in shown
    order = [shown.index(f"## C0{n} · p{n - 1}.md L{n}–L{n}") for n in (3, 2, 1)]
    assert order == sorted(order)
    assert "rank 1 · score 0.98 · why 2" in shown and "rank 3 · score 1.00 · why 0" in shown
    assert "not shown" not in shown


def test_past_sixty_hunks_the_rest_are_counted_and_skipped_files_are_named_up_to_twenty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(document, "MAX_SECTIONS", 2)
    text, suspects = _suspects(3)
    changes = read_unified_diff(text, "diff pr.diff")
    changes.skipped = [f"v{n}.lock: vendored or generated" for n in range(22)]
    changes.notes = ["Past 3,000 files the diff was not read further."]
    shown = render_changes_md(changes, suspects, 60_000).text
    assert "## C02" in shown and "## C03" not in shown
    assert "1 lower-ranked hunks are not shown." in shown
    assert "v19.lock: vendored or generated; and 2 more" in shown and "v20.lock" not in shown
    assert "Past 3,000 files the diff was not read further." in shown


def test_a_renamed_file_says_what_it_was() -> None:
    text = "diff --git a/old.md b/new.md\n--- a/old.md\n+++ b/new.md\n@@ -1 +1 @@\n-a\n+b\n"
    changes = read_unified_diff(text, "d")
    [hunk] = changes.hunks
    suspect = Suspect(change_id=hunk.change_id, path=hunk.path, start_line=1, end_line=1, score=0.5, reason="r")
    assert "(renamed from old.md)" in render_changes_md(changes, [suspect], 60_000).text


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    git(origin, "config", "user.email", "t@example.com")
    git(origin, "config", "user.name", "t")
    for n in range(4):
        (origin / "prompt.md").write_text("".join(f"rule {k}\n" for k in range(n + 2)))
        git(origin, "add", "-A")
        git(origin, "commit", "-q", "-m", f"main {n}")
    git(origin, "checkout", "-q", "-b", "pr", "HEAD~2")
    for n in range(3):
        (origin / "agent.py").write_text(f"STEP = {n}\n")
        git(origin, "add", "-A")
        git(origin, "commit", "-q", "-m", f"pr {n}")
    return origin


def test_two_and_three_dot_ranges_read_what_git_diff_reads(repo: Path) -> None:
    three = read_git_range(repo, "main...pr")  # the PR's own changes since the merge base
    assert {h.path for h in three.hunks} == {"agent.py"} and three.source == "git main...pr"
    two = read_git_range(repo, "main..pr")  # every difference between the two tips
    assert {h.path for h in two.hunks} == {"agent.py", "prompt.md"}
    assert read_git_range(repo, "main...").source == "git main...HEAD"
    with pytest.raises(ConfigError, match="names no base"):
        read_git_range(repo, "..pr")
    with pytest.raises(ConfigError, match=r"git diff main\.\.nope failed") as caught:
        read_git_range(repo, "main..nope")
    assert "--git-range A..B" in (caught.value.hint or "")


def test_a_shallow_checkout_is_deepened_until_the_merge_base_is_there(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth=1", "--branch", "pr", f"file://{repo}", str(clone)], check=True)
    base = git(repo, "rev-parse", "main")
    changes = read_git_range(clone, f"{base}...HEAD")
    assert {h.path for h in changes.hunks} == {"agent.py"}
    assert changes.notes[0] == f"fetched {base[:12]}" and "deepened the checkout by 50" in changes.notes


def test_a_shallow_checkout_that_cannot_fetch_says_to_set_fetch_depth(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth=1", "--branch", "pr", f"file://{repo}", str(clone)], check=True)
    git(clone, "remote", "set-url", "origin", str(tmp_path / "gone"))
    base = git(repo, "rev-parse", "main")
    with pytest.raises(ConfigError, match="no common history") as caught:
        read_git_range(clone, f"{base}...HEAD")
    assert "fetch-depth to 0" in (caught.value.hint or "")


def test_a_full_checkout_reads_its_range_without_fetching_and_whatever_the_users_git_config(repo: Path) -> None:
    git(repo, "config", "color.ui", "always")
    git(repo, "config", "color.diff", "always")
    git(repo, "config", "diff.external", "/bin/false")  # a diff tool of the user's own is not run
    git(repo, "checkout", "-q", "pr")
    git(repo, "mv", "prompt.md", "rules.md")
    (repo / "rules.md").write_text((repo / "rules.md").read_text() + "rule 9\n")
    git(repo, "commit", "-q", "-am", "rename the prompt and add a rule")
    changes = read_git_range(repo, "main...pr")
    assert changes.notes == []  # the base is there: nothing fetched, nothing deepened
    renamed = [h for h in changes.hunks if h.path == "rules.md"]
    assert [(h.old_path, h.added, h.removed) for h in renamed] == [("prompt.md", ["rule 9"], [])]  # not delete + add
    assert all("\x1b[" not in h.text for h in changes.hunks)
    with pytest.raises(ConfigError) as caught:
        read_git_range(repo, "...pr")
    assert caught.value.hint == "Write it as A..B or A...B."


def test_a_checkout_without_the_history_names_both_ends_and_what_to_set(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth=1", "--branch", "pr", f"file://{repo}", str(clone)], check=True)
    git(clone, "remote", "set-url", "origin", str(tmp_path / "gone"))
    base, head = git(repo, "rev-parse", "main"), git(repo, "rev-parse", "pr")
    with pytest.raises(ConfigError) as caught:
        read_git_range(clone, f"{base}...{head}")
    assert caught.value.message == (
        f"The checkout has no common history for {base[:12]}...{head[:12]}, and it could not be fetched."
    )
    assert caught.value.hint == (
        "Set fetch-depth to 0 on actions/checkout (its own input), or give the changes with --diff FILE."
    )


def test_changes_md_at_its_edges_names_itself_says_how_to_cite_and_keeps_the_top_five_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(document, "MAX_SECTIONS", 3)
    text, suspects = _suspects(3)
    changes = read_unified_diff(text, "diff pr.diff")
    changes.skipped = [f"v{n}.lock: vendored or generated" for n in range(20)]
    doc = render_changes_md(changes, suspects, 60_000)
    assert (doc.name, doc.kind) == ("changes.md", "changes")
    assert doc.text.startswith("# The pull request's changes")
    assert (
        "Each section is one hunk of the pull request, best-ranked against the failure first; cite it as C01…."
        in doc.text
    )
    assert "not shown" not in doc.text  # exactly as many hunks as sections: none left out
    assert "v19.lock: vendored or generated" in doc.text and "; and" not in doc.text  # twenty: all named
    assert "renamed from" not in doc.text  # no file was renamed
    changes.skipped.append("v20.lock: vendored or generated")
    assert "v19.lock: vendored or generated; and 1 more" in render_changes_md(changes, suspects, 60_000).text


def test_under_a_tight_budget_the_five_best_hunks_stay_whole_and_the_rest_become_stubs() -> None:
    text, suspects = _suspects(8)
    changes = read_unified_diff(text, "diff pr.diff")
    full = render_changes_md(changes, suspects, 60_000)
    # The loosest budget that still makes three of the eight hunks one-line summaries.
    tight = next(
        doc
        for cut in range(1, len(full.text))
        if (doc := render_changes_md(changes, suspects, len(full.text) - cut)).text.count("```text") == 5
    )
    kept = [n for n in range(8) if f"-old {n}\n+new {n}" in tight.text]
    assert kept == [0, 1, 2, 3, 4]  # the five best keep their diff
    assert all(f"rank {n + 1} · score" in tight.text for n in range(8))  # every hunk still citable
    assert "the 5 sections of the failure's evidence are in full" in tight.notes[0]


def test_words_in_any_script_are_whole_words() -> None:
    assert words_of("Zürich office, Ελλάδα route, 東京駅 desk") == {
        "zürich",
        "offic",
        "ελλάδα",
        "rout",
        "東京駅",
        "desk",
    }
    assert surface_words("Zürich_office") == {"zürich": "zürich", "offic": "office"}  # a stem, quoted as written


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [
        ("policies", "policy"),
        ("carried", "carry"),
        ("tied", "tied"),  # too short for -ied
        ("dies", "dies"),
        ("matches", "match"),
        ("goes", "goes"),
        ("enable", "enabl"),
        ("bike", "bike"),  # four letters keep their e
    ],
)
def test_stems_take_off_endings_only_where_enough_of_the_word_is_left(word: str, stemmed: str) -> None:
    assert stem(word) == stemmed
