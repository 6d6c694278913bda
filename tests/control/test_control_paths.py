"""Root confinement: `..`, symlinks and absolute paths resolved before any check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from samaudio_daw.control.paths import PathRefused, Roots


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Roots, Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "takes").mkdir(parents=True)
    outside.mkdir()
    (root / "takes" / "a.wav").write_bytes(b"RIFF")
    (outside / "secret.wav").write_bytes(b"RIFF")
    (root / "out-link").symlink_to(outside, target_is_directory=True)
    (root / "file-link.wav").symlink_to(outside / "secret.wav")
    (root / "inner-link.wav").symlink_to(root / "takes" / "a.wav")
    (root / "loop").symlink_to(root / "loop")
    return Roots.from_folders([root]), root.resolve(), outside.resolve()


def test_paths_inside_the_root_resolve(tree: tuple[Roots, Path, Path]) -> None:
    roots, root, _ = tree
    assert roots.confine("takes/a.wav", "input file") == root / "takes" / "a.wav"
    assert roots.confine(str(root / "takes/../takes/a.wav"), "x") == root / "takes" / "a.wav"
    assert roots.existing_file("inner-link.wav", "input file") == root / "takes" / "a.wav"
    assert roots.output_folder("new/stems") == root / "new" / "stems"
    assert roots.confine(".", "folder") == root


@pytest.mark.parametrize(
    "text",
    [
        "{outside}/secret.wav",
        "../outside/secret.wav",
        "takes/../../outside/secret.wav",
        "file-link.wav",
        "out-link/secret.wav",
        "out-link",
        "/",
        "{root}/..",
    ],
)
def test_paths_that_escape_are_refused(tree: tuple[Roots, Path, Path], text: str) -> None:
    roots, root, outside = tree
    with pytest.raises(PathRefused, match="outside the allowed folders"):
        roots.confine(text.format(root=root, outside=outside), "input file")


def test_other_refusals_say_why(tree: tuple[Roots, Path, Path]) -> None:
    roots, root, _ = tree
    with pytest.raises(PathRefused, match="does not exist"):
        roots.existing_file("takes/missing.wav", "input file")
    with pytest.raises(PathRefused, match="not a regular file"):
        roots.existing_file("takes", "input file")
    with pytest.raises(PathRefused, match="over the limit"):
        roots.existing_file("takes/a.wav", "job manifest", max_bytes=2)
    with pytest.raises(PathRefused, match="existing file"):
        roots.output_folder("takes/a.wav")
    with pytest.raises(PathRefused, match="empty"):
        roots.confine(" ", "input file")
    with pytest.raises(PathRefused):
        roots.confine("loop/x.wav", "input file")  # a symlink loop


def test_fifo_outside_is_refused_before_it_is_touched(tree: tuple[Roots, Path, Path]) -> None:
    roots, root, outside = tree
    os.mkfifo(outside / "pipe")
    (root / "pipe-link").symlink_to(outside / "pipe")
    with pytest.raises(PathRefused, match="outside"):
        roots.existing_file("pipe-link", "input file")


def test_several_roots_and_bad_roots(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    roots = Roots.from_folders([first, second, first])
    assert roots.folders == (first.resolve(), second.resolve())
    assert roots.confine(str(second / "x.wav"), "x") == second.resolve() / "x.wav"
    assert roots.confine("x.wav", "x") == first.resolve() / "x.wav"  # relative: first root
    with pytest.raises(ValueError, match="does not exist"):
        Roots.from_folders([tmp_path / "missing"])
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="must be a folder"):
        Roots.from_folders([tmp_path / "file"])
    with pytest.raises(ValueError, match="at least one"):
        Roots(())
    with pytest.raises(ValueError, match="absolute"):
        Roots((Path("relative"),))
