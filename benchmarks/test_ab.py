"""The A/B harness runs two trees in alternating fresh processes and cleans up the worktree it makes."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from benchmarks.ab import HERE, compare, main


def test_each_tree_gets_one_median_a_pair() -> None:
    before, after = compare(HERE, HERE, "500 clean", pairs=2, rounds=2, smoke=True)
    assert len(before) == len(after) == 2
    assert all(ms > 0 for ms in before + after)


_IN_GIT = (
    shutil.which("git") is not None
    and subprocess.run(["git", "-C", str(HERE), "rev-parse", "HEAD"], capture_output=True, check=False).returncode == 0
)


@pytest.mark.skipif(not _IN_GIT, reason="needs a git checkout")
def test_a_git_ref_is_checked_out_for_the_run_and_removed_after(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["HEAD", "--workload", "500 clean", "--pairs", "1", "--rounds", "2", "--smoke"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[:3] == ["workload", "base", "new"]
    assert table[2].startswith("500 clean") and table[2].endswith("/1")
    worktrees = subprocess.run(["git", "-C", str(HERE), "worktree", "list"], capture_output=True, text=True, check=True).stdout
    assert "transform-core-ab-" not in worktrees


def test_a_base_that_is_neither_a_folder_nor_a_ref_is_refused() -> None:
    with pytest.raises(SystemExit, match="neither a directory nor a git ref"):
        main(["no-such-ref-anywhere", "--pairs", "1", "--smoke"])
