"""The lossless .rpp reader/writer: byte-identical round trips, edits, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from samaudio_daw.project import rpp
from samaudio_daw.project.rpp import RppLine, RppNode, RppParseError

SMALL = """<REAPER_PROJECT 0.1 "7.27/linux-x86_64" 1700000000
  RIPPLE 0
  RECORD_PATH "media" ""
  <NOTES 0 2
    |hello "world" <not a block>
    |>
  >
  <TRACK {AAAAAAAA-0000-0000-0000-000000000001}
    NAME 'say "hi"'
    VOLPAN 0.5 0 -1 -1 1
    <VST "VST: ReaComp (Cockos)" reacomp.dll 0 "" 1919247213
      bWNlcu9e7f4EAAAAAQAAAAAAAAACAAAAAAAAAAQAAAAAAAAACAAAAAAAAAACAAAAAQAAAAAAAAACAAAAAAAAAFQ==
      AAAQAAAA
    >
    <SOMETHING_NEW 1 2
      WHATEVER `a "b" 'c'` x
    >
  >
>
"""


FIXTURES = Path(__file__).parent / "fixtures"


def _variants() -> dict[str, str]:
    lines = SMALL.split("\n")
    return {
        "lf": SMALL,
        "crlf": SMALL.replace("\n", "\r\n"),
        "cr": SMALL.replace("\n", "\r"),
        "bom": "\ufeff" + SMALL,
        "bom-crlf": "\ufeff" + SMALL.replace("\n", "\r\n"),
        "no-final-newline": SMALL.rstrip("\n"),
        "blank-lines": "\n".join(
            line + "\n" if i % 3 == 0 else line for i, line in enumerate(lines)
        ),
        "whitespace-lines": SMALL.replace("  RIPPLE 0\n", "  RIPPLE 0\n   \n\t\n"),
        "trailing-space": SMALL.replace("RIPPLE 0\n", "RIPPLE 0  \t\n"),
        "mixed-endings": SMALL.replace("RIPPLE 0\n", "RIPPLE 0\r\n", 1),
        "blank-around": "\n\n" + SMALL + "\n  \n",
        "tabs": SMALL.replace("  ", "\t"),
    }


@pytest.mark.parametrize("name", ["with-external-files.rpp", "vst.RPP"])
def test_fixture_files_round_trip_byte_for_byte(name: str, tmp_path: Path) -> None:
    original = (FIXTURES / name).read_bytes()
    tree = rpp.load(FIXTURES / name)
    copy = tmp_path / name
    rpp.dump(tree, copy)
    assert copy.read_bytes() == original


@pytest.mark.parametrize("variant", sorted(_variants()))
def test_variants_round_trip(variant: str) -> None:
    text = _variants()[variant]
    assert rpp.dumps(rpp.loads(text)) == text


@pytest.mark.parametrize("name", ["with-external-files.rpp", "vst.RPP"])
def test_fixture_variants_round_trip(name: str, fixture_text: dict[str, str]) -> None:
    text = fixture_text[name]
    for variant in (
        "\ufeff" + text,
        text.replace("\r\n", "\n"),
        text.replace("\r\n", "\r\n\r\n"),
        text.replace("\r\n", " \r\n  \r\n"),
    ):
        assert rpp.dumps(rpp.loads(variant)) == variant


def test_bom_and_invalid_utf8_survive_a_file_round_trip(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + SMALL.replace("say", "s\xe4y").encode("latin-1")
    path = tmp_path / "song.rpp"
    path.write_bytes(data)
    tree = rpp.load(path)
    assert tree.bom == "\ufeff"
    rpp.dump(tree, tmp_path / "out.rpp")
    assert (tmp_path / "out.rpp").read_bytes() == data


def test_tree_structure_and_tokens() -> None:
    root = rpp.loads(SMALL)
    assert root.tag == "REAPER_PROJECT"
    assert root.params == ("0.1", "7.27/linux-x86_64", "1700000000")
    track = root.find("TRACK")
    assert track is not None
    assert track.params == ("{AAAAAAAA-0000-0000-0000-000000000001}",)
    assert track.values("NAME") == ('say "hi"',)
    assert track.values("VOLPAN") == ("0.5", "0", "-1", "-1", "1")
    vst = track.find("VST")
    assert vst is not None and vst.params[:2] == ("VST: ReaComp (Cockos)", "reacomp.dll")
    assert vst.params[3] == ""
    assert vst.lines()[1].tokens == ("AAAQAAAA",)
    unknown = track.find("SOMETHING_NEW")
    assert unknown is not None and unknown.values("WHATEVER") == ("a \"b\" 'c'", "x")
    notes = root.find("NOTES")
    assert notes is not None
    assert [line.tokens for line in notes.lines()] == [('|hello "world" <not a block>',), ("|>",)]
    assert [node.tag for node in root.walk()] == [
        "REAPER_PROJECT",
        "NOTES",
        "TRACK",
        "VST",
        "SOMETHING_NEW",
    ]
    assert root.find("MISSING") is None and root.values("MISSING") is None


def test_fixture_quoting_is_read_like_reaper(fixture_text: dict[str, str]) -> None:
    root = rpp.loads(fixture_text["vst.RPP"])
    names = [track.values("NAME") for track in root.find_all("TRACK")]
    assert ("|Beep Boop",) in names
    assert ('"hey',) in names
    assert ('hey"',) in names
    assert ("<",) in names and (">",) in names and ("<>",) in names
    assert any(name and name[0].startswith("0123456789 abc") for name in names if name)


def test_editing_one_line_keeps_every_other_line_byte_identical(
    fixture_text: dict[str, str],
) -> None:
    text = fixture_text["with-external-files.rpp"]
    root = rpp.loads(text)
    track = root.find_all("TRACK")[5]
    line = track.line("NAME")
    assert line is not None and line.line_number is not None
    track.set_values("NAME", ["New name with spaces"])
    out_lines = rpp.dumps(root).split("\r\n")
    in_lines = text.split("\r\n")
    assert len(out_lines) == len(in_lines)
    changed = [i for i, (a, b) in enumerate(zip(in_lines, out_lines, strict=True)) if a != b]
    assert changed == [line.line_number - 1]
    assert out_lines[line.line_number - 1] == '    NAME "New name with spaces"'


def test_rewritten_lines_keep_quotes_and_use_reaper_quoting() -> None:
    root = rpp.loads(SMALL)
    root.set_values("RECORD_PATH", ["stems", ""])
    track = root.find("TRACK")
    assert track is not None
    track.set_values("NAME", ["both \" and '"])
    text = rpp.dumps(root)
    assert '  RECORD_PATH "stems" ""\n' in text
    assert "    NAME `both \" and '`\n" in text
    track.set_values("NAME", ["all \" ' ` three"])
    assert "    NAME `all \" ' ' three`\n" in rpp.dumps(root)


@pytest.mark.parametrize(
    ("token", "written"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("two words", '"two words"'),
        ('say "x"', "'say \"x\"'"),
        ('it\'s "x"', '`it\'s "x"`'),
        ("'quoted", '"\'quoted"'),
        ('hey"', 'hey"'),
    ],
)
def test_format_token(token: str, written: str) -> None:
    assert rpp.format_token(token) == written
    tokens, _ = rpp.tokenize(written)
    assert tokens == [token]


def test_tokenize_mixed_quoting() -> None:
    tokens, quoted = rpp.tokenize("""KEY "a b" 'c "d"' `e 'f' "g"` plain "" 'unterminated rest""")
    assert tokens == ["KEY", "a b", 'c "d"', "e 'f' \"g\"", "plain", "", "unterminated rest"]
    assert quoted == [False, True, True, True, False, True, True]


def test_set_params_rewrites_only_the_open_line() -> None:
    root = rpp.loads(SMALL.replace("\n", "\r\n"))
    track = root.find("TRACK")
    assert track is not None
    track.set_params(["{BBBBBBBB-0000-0000-0000-000000000002}"])
    text = rpp.dumps(root)
    assert "  <TRACK {BBBBBBBB-0000-0000-0000-000000000002}\r\n" in text
    assert text.replace("BBBBBBBB", "AAAAAAAA").replace("-000000000002}", "-000000000001}") == (
        SMALL.replace("\n", "\r\n")
    )


def test_new_nodes_are_indented_by_depth_and_use_the_document_line_ending() -> None:
    root = rpp.loads(SMALL.replace("\n", "\r\n"))
    item = RppNode.new("ITEM")
    item.append(RppLine.new(["POSITION", "1.5"]))
    source = RppNode.new("SOURCE", ["WAVE"])
    source.append(RppLine.new(["FILE", "a.wav"], quoted=(False, True)))
    item.append(source)
    track = root.find("TRACK")
    assert track is not None
    track.append(item)
    root.set_values("NEWKEY", ["x y"])
    text = rpp.dumps(root)
    assert (
        '    <ITEM\r\n      POSITION 1.5\r\n      <SOURCE WAVE\r\n        FILE "a.wav"\r\n'
        "      >\r\n    >\r\n  >\r\n>\r\n"
    ) in text
    assert '  RECORD_PATH "media" ""\r\n  NEWKEY "x y"\r\n  <NOTES' in text
    again = rpp.loads(text)
    assert rpp.dumps(again) == text


def test_insert_and_remove_children() -> None:
    root = rpp.loads(SMALL)
    track = root.find("TRACK")
    assert track is not None
    copy = track.copy()
    copy.set_values("NAME", ["copy"])
    root.insert(root.index_of(track) + 1, copy)
    assert [t.values("NAME") for t in root.find_all("TRACK")] == [('say "hi"',), ("copy",)]
    assert track.values("NAME") == ('say "hi"',)
    root.remove(copy)
    assert rpp.dumps(root) == SMALL
    with pytest.raises(ValueError, match="not a child"):
        root.remove(copy)


def test_copies_keep_original_text() -> None:
    root = rpp.loads(SMALL.replace("\n", "\r\n"))
    track = root.find("TRACK")
    assert track is not None
    root.append(track.copy())
    text = rpp.dumps(root)
    start = text.index("  <TRACK")
    block = text[start : text.index("\r\n  >\r\n", start) + 7]
    assert block.endswith("  >\r\n") and "SOMETHING_NEW" in block
    assert text.count(block) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "<REAPER_PROJECT 0.1\n  <TRACK\n    NAME x\n  >\n  <ITEM\n",
            r"song\.rpp:5: unclosed <ITEM block opened at line 5",
        ),
        ("<REAPER_PROJECT 0.1\n  <TRACK\n", r"song\.rpp:2: unclosed <TRACK block opened at line 2"),
        ("<REAPER_PROJECT 0.1\n>\n>\n", r"song\.rpp:3: text after the end of <REAPER_PROJECT"),
        ("hello\n<REAPER_PROJECT\n>\n", r"song\.rpp:1: expected a block such as <REAPER_PROJECT"),
        ("", r"song\.rpp:1: no <REAPER_PROJECT block"),
        ("\n  \n", r"song\.rpp:2: no <REAPER_PROJECT block"),
    ],
)
def test_parse_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(RppParseError, match=message):
        rpp.loads(text, source="song.rpp")


def test_parse_error_on_a_truncated_fixture(fixture_text: dict[str, str]) -> None:
    text = fixture_text["vst.RPP"]
    lines = text.split("\r\n")
    truncated = "\r\n".join(lines[:100])
    with pytest.raises(RppParseError) as caught:
        rpp.loads(truncated, source="vst.RPP")
    assert caught.value.line_number == 100
    assert "unclosed <" in str(caught.value) and "vst.RPP:100:" in str(caught.value)


def test_load_reports_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="missing.rpp: cannot read the project file"):
        rpp.load(tmp_path / "missing.rpp")


def test_dump_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "out.rpp"
    rpp.dump(rpp.loads(SMALL), path)
    assert path.read_text() == SMALL
    assert [p.name for p in tmp_path.iterdir()] == ["out.rpp"]


def test_format_number_and_guid() -> None:
    assert rpp.format_number(2.0) == "2"
    assert rpp.format_number(0.1) == "0.1"
    assert float(rpp.format_number(1 / 3)) == 1 / 3
    guid = rpp.guid_for("a", "b")
    assert guid == rpp.guid_for("a", "b") != rpp.guid_for("a", "c")
    assert guid.startswith("{") and guid.endswith("}") and len(guid) == 38
