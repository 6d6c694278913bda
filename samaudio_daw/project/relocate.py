"""Moving a project to another folder: its media paths rewritten so they still resolve.

A project written somewhere else (``<project>-stems.rpp`` in the stems folder)
keeps every ``FILE`` line pointing at the same file as in the original: paths are
rewritten relative to the new folder (absolute where no relative path exists, as
for a file on another drive), found the way REAPER finds them from the original
folder (see :class:`~samaudio_daw.project.media.MediaFinder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from samaudio_daw.project.media import MediaFinder, relocated_media_path
from samaudio_daw.project.rpp import RppNode


def relocate_media(
    tree: RppNode,
    old_project_path: Path,
    new_project_path: Path,
    media_dirs: Sequence[Path] = (),
) -> RppNode:
    """A copy of ``tree`` whose media paths resolve from ``new_project_path``'s folder.

    ``old_project_path`` is where the project was read from; its RECORD_PATH and
    ``media_dirs`` are searched as when it was read. The input tree is not changed.
    """
    new_tree = tree.copy()
    old_dir, new_dir = Path(old_project_path).parent, Path(new_project_path).parent
    record_paths = tuple((new_tree.values("RECORD_PATH") or ())[:2])
    finder = MediaFinder(old_dir, record_paths, media_dirs)
    for node in new_tree.walk():
        if node.tag != "SOURCE":
            continue
        line = node.line("FILE")
        if line is None or not line.values:
            continue
        written = line.values[0]
        lookup = finder.find(written)
        moved = relocated_media_path(written, lookup.path, old_dir, new_dir)
        if moved != written:
            line.set_values([moved, *line.values[1:]])
    return new_tree
