"""Reading a pull request's diff at its edges: which lines a hunk claims, what is skipped and said
(changes/diff.py). The line numbers are where an annotation or a suggestion lands on the PR."""

from __future__ import annotations

import pytest

from refinery.changes import diff
from refinery.changes.diff import read_file_patches, read_unified_diff, redact_changes


def git_diff(path: str, *hunks: str, old: str | None = None) -> str:
    return f"diff --git a/{old or path} b/{path}\n--- a/{old or path}\n+++ b/{path}\n" + "".join(hunks)


def test_a_hunk_header_without_line_counts_is_one_line() -> None:
    # `@@ -3 +2,0 @@`: one line removed at 3, nothing added; the next header is read as a header.
    text = git_diff("prompt.txt", "@@ -3 +2,0 @@\n-Always confirm the amount.\n", "@@ -9 +8 @@\n-old\n+new\n")
    changes = read_unified_diff(text, "diff pr.diff")
    first, second = changes.hunks
    assert (first.old_start, first.old_lines, first.new_start, first.new_lines) == (3, 1, 2, 0)
    assert first.removed == ["Always confirm the amount."] and first.added == []
    assert (second.old_lines, second.new_lines) == (1, 1) and second.added == ["new"]
    assert [h.change_id for h in changes.hunks] == ["C01", "C02"]


def test_added_and_removed_lines_land_on_the_new_files_lines() -> None:
    patch = "@@ -10,4 +10,5 @@\n keep\n-gone\n+one\n+two\n keep\n"
    [hunk] = read_unified_diff(git_diff("agent.py", patch), "d").hunks
    # A removed line is placed where the line now in its place is; added lines on their own lines.
    assert hunk.changed == [11, 11, 12]
    assert (hunk.start_line, hunk.end_line) == (11, 12)
    assert hunk.context == ["keep", "keep"]


def test_a_removed_line_that_looks_like_a_file_header_stays_in_its_hunk() -> None:
    patch = "@@ -1,3 +1,1 @@\n--- not a header\n-+++ nor this\n kept\n"
    text = git_diff("notes.md", patch) + git_diff("b.py", "@@ -1 +1 @@\n-x\n+y\n")
    changes = read_unified_diff(text, "d")
    assert [h.path for h in changes.hunks] == ["notes.md", "b.py"]
    assert changes.hunks[0].removed == ["-- not a header", "+++ nor this"]


def test_binary_vendored_and_renamed_files_are_named_not_dropped() -> None:
    text = (
        "diff --git a/logo.png b/logo.png\nBinary files a/logo.png and b/logo.png differ\n"
        + git_diff("node_modules/x/index.js", "@@ -1 +1 @@\n-a\n+b\n")
        + git_diff("poetry.lock", "@@ -1 +1 @@\n-a\n+b\n")
        + git_diff("prompts/new.txt", "@@ -1 +1 @@\n-a\n+b\n", old="prompts/old.txt")
    )
    changes = read_unified_diff(text, "d")
    assert changes.skipped == [
        "logo.png: binary",
        "node_modules/x/index.js: vendored or generated",
        "poetry.lock: vendored or generated",
    ]
    [hunk] = changes.hunks
    assert hunk.path == "prompts/new.txt" and hunk.old_path == "prompts/old.txt"
    assert changes.files == 1


def test_a_new_and_a_deleted_file_use_the_path_that_exists() -> None:
    new = "diff --git a/n.py b/n.py\n--- /dev/null\n+++ b/n.py\n@@ -0,0 +1,2 @@\n+a\n+b\n"
    gone = "diff --git a/g.py b/g.py\n--- a/g.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n"
    changes = read_unified_diff(new + gone, "d")
    assert [(h.path, h.start_line) for h in changes.hunks] == [("n.py", 1), ("g.py", 1)]


def test_past_the_file_cap_the_rest_are_named_once(monkeypatch: object) -> None:
    import pytest

    patcher = pytest.MonkeyPatch()
    patcher.setattr(diff, "MAX_FILES", 2)
    try:
        files = [(f"f{n}.py", "@@ -1 +1 @@\n-a\n+b\n", None) for n in range(4)]
        changes = read_file_patches(files, "github")
    finally:
        patcher.undo()
    assert changes.files == 2 and [h.path for h in changes.hunks] == ["f0.py", "f1.py"]
    assert changes.notes == ["Past 2 files the diff was not read further."]
    assert changes.skipped == ["f2.py: past the 2-file cap", "f3.py: past the 2-file cap"]


def test_a_file_past_the_changed_line_cap_keeps_its_first_hunks() -> None:
    patcher = __import__("pytest").MonkeyPatch()
    patcher.setattr(diff, "MAX_FILE_LINES", 3)
    try:
        patch = "@@ -1,2 +1,2 @@\n-a\n+b\n@@ -10,2 +10,2 @@\n-c\n+d\n@@ -20 +20 @@\n-e\n+f\n"
        changes = read_file_patches([("big.py", patch, None)], "github")
    finally:
        patcher.undo()
    assert [h.new_start for h in changes.hunks] == [1, 10]
    assert changes.skipped == ["big.py: hunks past 3 changed lines"]


def test_the_apis_missing_patch_is_named_and_a_hunk_with_no_change_is_not_kept() -> None:
    changes = read_file_patches(
        [("model.bin", None, None), ("a.py", "@@ -1,2 +1,2 @@\n same\n same\n", None)], "github"
    )
    assert changes.skipped == ["model.bin: binary, or too large for the API to show its patch"]
    assert changes.hunks == [] and changes.files == 1


def test_a_hunks_text_is_capped_for_the_document() -> None:
    patch = "@@ -1,400 +1,400 @@\n" + "".join(f"-{'x' * 40} {n}\n+{'y' * 40} {n}\n" for n in range(400))
    [hunk] = read_file_patches([("a.py", patch, None)], "github").hunks
    assert len(hunk.removed) == 400  # every line is read and ranked
    # What changes.md shows is capped: MAX_HUNK_TEXT characters of lines, then their newlines.
    assert diff.MAX_HUNK_TEXT <= len(hunk.text) < diff.MAX_HUNK_TEXT + 250


def test_redaction_reaches_file_names_skipped_files_and_notes() -> None:
    changes = read_unified_diff(git_diff("cfg/sk-live.txt", "@@ -1 +1 @@\n-a=SECRET\n+b=SECRET\n"), "diff SECRET.diff")
    changes.notes.append("SECRET note")
    changes.skipped.append("SECRET.bin: binary")
    shown = redact_changes(changes, lambda s: s.replace("SECRET", "[REDACTED]"))
    [hunk] = shown.hunks
    assert hunk.added == ["b=[REDACTED]"] and hunk.removed == ["a=[REDACTED]"] and "SECRET" not in hunk.text
    assert shown.source == "diff [REDACTED].diff" and shown.notes == ["[REDACTED] note"]
    assert shown.skipped == ["[REDACTED].bin: binary"]


def test_the_apis_per_file_patches_keep_their_source_and_a_renamed_files_old_name() -> None:
    changes = read_file_patches(
        [("rules.md", "@@ -1 +1 @@\n-a\n+b", "prompt.md"), ("new.md", "@@ -0,0 +1 @@\n+x", None)], "api"
    )
    assert changes.source == "api"
    assert [(h.path, h.old_path) for h in changes.hunks] == [("rules.md", "prompt.md"), ("new.md", None)]


def test_the_claim_is_the_best_suspect_only_when_its_band_allows_one() -> None:
    from refinery.changes import claim_threshold, claimed
    from refinery.changes.model import Suspect
    from refinery.changes.rank import thresholds

    def suspect(band: str, score: float) -> Suspect:
        return Suspect(change_id="C01", path="p.md", start_line=1, end_line=1, score=score, reason="r", band=band)

    assert claimed([]) is None
    assert claimed([suspect("none", 0.2), suspect("likely", 0.9)]) is None  # the best is no claim: nothing is
    best = suspect("possible", 0.5)
    assert claimed([best, suspect("likely", 0.9)]) is best
    assert claim_threshold() == thresholds()["possible"]  # the lowest band that claims, as learned


def test_the_lowest_claim_score_is_the_possible_bands_else_the_likely_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    import refinery.changes as changes

    monkeypatch.setattr(changes, "thresholds", lambda: {"possible": 0.3, "likely": 0.6})
    assert changes.claim_threshold() == 0.3
    monkeypatch.setattr(changes, "thresholds", lambda: {"possible": None, "likely": 0.6})
    assert changes.claim_threshold() == 0.6


def test_a_renamed_files_old_name_is_redacted_too_and_an_unrenamed_file_has_none() -> None:
    text = git_diff("cfg/new.txt", "@@ -1 +1 @@\n-a\n+b\n", old="cfg/SECRET.txt") + git_diff(
        "x.md", "@@ -1 +1 @@\n-a\n+b\n"
    )
    shown = redact_changes(read_unified_diff(text, "d"), lambda s: s.replace("SECRET", "[REDACTED]"))
    assert [(h.path, h.old_path) for h in shown.hunks] == [("cfg/new.txt", "cfg/[REDACTED].txt"), ("x.md", None)]


def test_file_names_with_spaces_quotes_or_a_timestamp_are_read_as_git_and_diff_write_them() -> None:
    text = (
        'diff --git "a/my prompts/agent v2.md" "b/my prompts/agent v2.md"\n'
        '--- "a/my prompts/agent v2.md"\n+++ "b/my prompts/agent v2.md"\n@@ -1 +1 @@\n-a\n+b\n'
        "--- a/notes file.md\t2026-01-01 00:00:00\n+++ b/notes file.md\t2026-01-02 00:00:00\n@@ -1 +1 @@\n-c\n+d\n"
        '--- a/"odd.md\n+++ b/"odd.md\n@@ -1 +1 @@\n-e\n+f\n'
    )
    assert [h.path for h in read_unified_diff(text, "d").hunks] == [
        "my prompts/agent v2.md",
        "notes file.md",
        '"odd.md',
    ]


def test_a_hunk_ends_where_its_counts_say_and_the_next_file_is_read_and_binary_names_may_hold_and() -> None:
    text = (
        "diff --git a/x.md b/x.md\n--- a/x.md\n+++ b/x.md\n@@ -1 +1,2 @@\n-a\n+b\n+c\n"
        "diff --git a/y.md b/y.md\n--- a/y.md\n+++ b/y.md\n@@ -1,2 +1 @@\n-d\n-e\n+f\n"
        "diff --git a/cats and dogs.png b/cats and dogs.png\n"
        "Binary files a/cats and dogs.png and b/cats and dogs.png differ\n"
        "Binary files /dev/null and b/new.png differ\n"
        "--- a/z.md\n+++ b/z.md\n@@ -1 +1 @@\n-g\n\\ No newline at end of file\n+h\n\\ No newline at end of file\n"
    )
    changes = read_unified_diff(text, "d")
    assert [(h.path, h.removed, h.added) for h in changes.hunks] == [
        ("x.md", ["a"], ["b", "c"]),
        ("y.md", ["d", "e"], ["f"]),
        ("z.md", ["g"], ["h"]),
    ]
    assert changes.skipped == ["cats and dogs.png: binary", "new.png: binary"]


def test_a_deleted_binary_is_named_by_its_old_name_and_a_diff_without_prefixes_by_its_new_one() -> None:
    text = (
        "diff --git a/old logo.png b/old logo.png\ndeleted file mode 100644\n"
        "Binary files a/old logo.png and /dev/null differ\n"
        "diff --git icon.png icon.png\nBinary files icon.png and icon@2x.png differ\n"
        "Binary files a/sand and b/sand and stone.bin differ\n"
        "Binary files a/cats and b/dogs.png and b/cats and b/dogs.png differ\n"  # a folder named "cats and b"
        "Binary files a/old and new.png and b/logo.png differ\n"  # renamed from a name holding " and "
        "Binary files /dev/null and b/salt and pepper.png differ\n"  # added, its name holding " and "
    )
    assert read_unified_diff(text, "d").skipped == [
        "old logo.png: binary",
        "icon@2x.png: binary",
        "sand and stone.bin: binary",
        "cats and b/dogs.png: binary",
        "logo.png: binary",
        "salt and pepper.png: binary",
    ]


def test_a_diff_that_starts_with_its_file_header_as_diff_u_writes_it_is_read_from_the_first_line() -> None:
    text = "--- a/prompt.md\t2026-12-01 10:00:00\n+++ b/prompt.md\t2026-12-02 10:00:00\n@@ -1 +1 @@\n-Be kind.\n+Be brief.\n"
    [hunk] = read_unified_diff(text, "d").hunks
    assert (hunk.path, hunk.removed, hunk.added) == ("prompt.md", ["Be kind."], ["Be brief."])
