"""Bad queries from the command line (issue #27): each gives results or one clear line, never a traceback, and
a search leaves the catalog as it was."""

import hashlib
import json

import pytest

from desktop_app.cli import main
from engine.paths import LibraryPaths, default_library_dir


def run(capsys, *args):
    try:
        code = main(list(args))
    except SystemExit as e:  # a usage error (argparse), exit status 2
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def indexed(capsys, tiny_model, photo_dir):
    assert run(capsys, "add", str(photo_dir))[0] == 0
    assert run(capsys, "index", "--model", "tiny")[0] == 0
    return photo_dir


BAD = [
    (['"beach'], "unbalanced quote"),
    (["person:"], "person: needs a name"),
    (["beach 2019-13-40"], "a month is 1 to 12"),
    (["beach", "--from", "2019-02-30"], "February 2019 has days 1 to 28"),
    (["tag:nothing-like-it"], "no photo has the tag 'nothing-like-it'"),
    (["place:Atlantis"], None),  # no photo has a place yet: nothing to compare with, no result
    (["album:Holidays"], "no album is named 'Holidays' (there are none yet)"),
    (["person:Anna"], "no person is named 'Anna'"),
    (["folder:nowhere"], "no folder of the library is named 'nowhere'"),
    (["- beach"], "at least one positive term"),
    (['text:"open 24h"'], "none has been read in this library yet: photosift index --text reads it"),
    (["text:"], "text: needs words read in the photo"),
]


@pytest.mark.parametrize(("args", "line"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_query_is_one_line_and_changes_nothing(capsys, indexed, args, line):
    catalog = LibraryPaths(default_library_dir()).catalog
    before = hashlib.sha256(catalog.read_bytes()).hexdigest()
    code, out, err = run(capsys, "search", *args)
    assert "Traceback" not in err
    if line is None:
        assert code == 0 and out.strip() == "no matching photos"
    else:
        assert code in (1, 2) and line in err and len(err.strip().splitlines()) == 1, err
    assert hashlib.sha256(catalog.read_bytes()).hexdigest() == before


def test_long_queries_and_queries_of_only_filters_give_results(capsys, indexed):
    code, out, err = run(capsys, "search", "a photo of " + "very " * 2000 + "red things", "--json")
    assert code == 0 and "Traceback" not in err and isinstance(json.loads(out), list)
    code, out, err = run(capsys, "search", "folder:space", "--json")  # only a filter: its photos, newest first
    assert code == 0 and len(json.loads(out)) == 3
    code, out, err = run(capsys, "search", "2019", "--json")  # a date alone: no photo has one
    assert code == 0 and json.loads(out) == [] and "read as a filter (Date: 2019)" in err
