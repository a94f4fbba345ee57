"""Getters and labellers: get_files, FileGetter, parent_label, RegexLabeller, ColReader, Item/AttrGetter."""

import os
from collections import namedtuple
from pathlib import Path

import pandas as pd
import pytest

from lamina.core.data.getters import (
    AttrGetter,
    ColReader,
    FileGetter,
    ItemGetter,
    RegexLabeller,
    get_files,
    parent_label,
)


@pytest.fixture
def tree(tmp_path):
    """a.txt, B.PNG, .hidden.png, sub/c.png, sub/d.jpg, sub/deeper/e.png, other/f.png, .git/g.png"""
    for rel in ("a.txt", "B.PNG", ".hidden.png", "sub/c.png", "sub/d.jpg", "sub/deeper/e.png", "other/f.png",
                ".git/g.png"):  # fmt: skip
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    return tmp_path


def _rel(paths, root):
    return [p.relative_to(root).as_posix() for p in paths]


def test_get_files_recurses_sorted_and_skips_hidden(tree):
    found = get_files(tree)
    assert _rel(found, tree) == [
        "B.PNG", "a.txt", "other/f.png", "sub/c.png", "sub/d.jpg", "sub/deeper/e.png",
    ]  # fmt: skip
    assert all(isinstance(p, Path) for p in found)


def test_get_files_extensions_case_insensitive_with_or_without_dot(tree):
    assert _rel(get_files(tree, extensions=".png"), tree) == [
        "B.PNG", "other/f.png", "sub/c.png", "sub/deeper/e.png",
    ]  # fmt: skip
    assert _rel(get_files(tree, extensions=["jpg", ".TXT"]), tree) == ["a.txt", "sub/d.jpg"]


def test_get_files_non_recursive_and_folders(tree):
    assert _rel(get_files(tree, recurse=False), tree) == ["B.PNG", "a.txt"]
    assert _rel(get_files(tree, folders=["sub"]), tree) == ["sub/c.png", "sub/d.jpg", "sub/deeper/e.png"]
    assert _rel(get_files(tree, folders="other"), tree) == ["other/f.png"]
    assert _rel(get_files(tree, folders=[".", "other"]), tree) == ["B.PNG", "a.txt", "other/f.png"]


def test_get_files_follows_links_when_asked(tree, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "linked.png").write_text("x")
    os.symlink(outside, tree / "link")
    assert "link/linked.png" in _rel(get_files(tree), tree)
    assert "link/linked.png" not in _rel(get_files(tree, followlinks=False), tree)


def test_get_files_errors(tree):
    with pytest.raises(FileNotFoundError, match="missing"):
        get_files(tree / "missing")
    with pytest.raises(NotADirectoryError, match="a.txt"):
        get_files(tree / "a.txt")


def test_get_files_on_mnist_tiny(shared_data):
    pngs = get_files(shared_data / "mnist_tiny", extensions=".png")
    assert len(pngs) == 720
    assert len(get_files(shared_data / "mnist_tiny", extensions=".png", folders=["train", "valid"])) == 700


def test_file_getter(tree):
    get = FileGetter(suf="sub", extensions=".png")
    assert _rel(get(tree), tree) == ["sub/c.png", "sub/deeper/e.png"]
    assert _rel(FileGetter(recurse=False)(tree / "sub"), tree) == ["sub/c.png", "sub/d.jpg"]


def test_parent_label():
    assert parent_label("data/train/3/7.png") == "3"
    assert parent_label(Path("x") / "dog" / "a.jpg") == "dog"


def test_regex_labeller_search_and_match():
    labeller = RegexLabeller(r"([a-z]+)_\d+\.jpg$")
    assert labeller("pets/great_pyrenees_12.jpg") == "pyrenees"
    assert labeller(Path("pets") / "boxer_3.jpg") == "boxer"
    assert RegexLabeller(r"(\d+)", match=True)("12ab") == "12"
    with pytest.raises(ValueError, match=r"failed to match .* in 'ab12'"):
        RegexLabeller(r"(\d+)", match=True)("ab12")


def test_regex_labeller_names_the_item_and_checks_the_pattern():
    with pytest.raises(ValueError, match=r"'notes/readme\.md'"):
        RegexLabeller(r"(\d+)\.png")("notes/readme.md")
    with pytest.raises(ValueError, match="no group"):
        RegexLabeller(r"\d+")
    with pytest.raises(ValueError, match="invalid pattern"):
        RegexLabeller(r"(")


def test_col_reader_on_dataframe_rows():
    df = pd.DataFrame({"name": ["a", "b"], "tags": ["x y", ""], "n": [1, 2]})
    row = df.iloc[0]
    assert ColReader("name")(row) == "a"
    assert ColReader("name", pref="imgs/", suff=".png")(row) == "imgs/a.png"
    assert ColReader("name", pref=Path("imgs"))(row) == os.path.join("imgs", "a")
    assert ColReader("tags", label_delim=" ")(row) == ["x", "y"]
    assert ColReader("tags", label_delim=" ")(df.iloc[1]) == []
    assert list(ColReader(["name", "n"])(df.iloc[1])) == ["b", 2]
    assert ColReader(2)(row) == 1  # a position


def test_col_reader_on_tuples_dicts_and_namedtuples():
    Row = namedtuple("Row", "file label")
    assert ColReader("label")(Row("f.png", "cat")) == "cat"
    assert ColReader(1)(("f.png", "dog")) == "dog"  # the whole tuple is the row
    assert ColReader("k")({"k": 5}) == 5


def test_col_reader_missing_column_is_named():
    df = pd.DataFrame({"name": ["a"]})
    with pytest.raises(KeyError, match=r"column 'label'.*\['name'\]"):
        ColReader("label")(df.iloc[0])
    with pytest.raises(ValueError, match="at least one column"):
        ColReader([])


def test_item_getter_sees_whole_tuples():
    assert ItemGetter(1)(("x", "y")) == "y"
    assert ItemGetter("k")({"k": 3}) == 3
    with pytest.raises(IndexError, match=r"ItemGetter\(5\)"):
        ItemGetter(5)((1, 2))


def test_attr_getter():
    Row = namedtuple("Row", "file label")
    assert AttrGetter("label")(Row("f", "l")) == "l"
    assert AttrGetter("missing", default="d")(Row("f", "l")) == "d"
