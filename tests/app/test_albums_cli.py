"""`photosift albums` as a user runs it: a manual album, a smart one that grows as photos are indexed, and both
as search filters (issue #27 item 3)."""

import json
import shutil

from desktop_app.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_albums_from_the_command_line(capsys, tiny_model, photo_dir):
    assert run(capsys, "add", str(photo_dir))[0] == 0
    assert run(capsys, "index", "--model", "tiny")[0] == 0
    rocket, coffee = str(photo_dir / "space" / "rocket.jpg"), str(photo_dir / "home" / "coffee.jpg")
    code, out, _ = run(capsys, "albums", "new", "Favourites")
    assert code == 0 and "Favourites" in out
    code, out, _ = run(capsys, "albums", "add", "favourites", rocket, coffee)
    assert code == 0 and out.startswith("2 photos put in 'Favourites'")
    code, out, _ = run(capsys, "albums", "new", "Space", "--query", "folder:space")
    assert code == 0 and "smart album 'Space': 3 photos" in out
    code, out, _ = run(capsys, "albums", "list", "--json")
    assert json.loads(out) == [{"name": "Favourites", "kind": "manual", "count": 2, "query": None},
                               {"name": "Space", "kind": "smart", "count": 3, "query": "folder:space"}]
    code, out, _ = run(capsys, "search", "album:Favourites", "--json")
    assert code == 0 and sorted(h["path"] for h in json.loads(out)) == sorted([coffee, rocket])
    # a new photo in the smart album's folder joins it at the next index
    shutil.copy2(photo_dir / "home" / "chelsea.jpg", photo_dir / "space" / "cat-in-space.jpg")
    code, out, _ = run(capsys, "index", "--json")
    assert code == 0 and json.loads(out)["smart_albums"] == {"Space": 4}
    code, out, _ = run(capsys, "albums", "show", "space", "--json")
    assert any(p["path"].endswith("cat-in-space.jpg") for p in json.loads(out))
    # mistakes: one line each, nothing changed
    code, _, err = run(capsys, "albums", "add", "Space", rocket)
    assert code == 1 and "is a smart album" in err
    code, _, err = run(capsys, "albums", "add", "Favourites", rocket, str(photo_dir / "nope.jpg"))
    assert code == 1 and "nope.jpg is not in the library" in err
    code, _, err = run(capsys, "albums", "add", "Favorites", rocket)
    assert code == 1 and "no album is named 'Favorites' (nearest: Favourites)" in err
    code, out, _ = run(capsys, "albums", "delete", "favourites")
    assert code == 0 and "its 2 photos stay" in out
    code, out, _ = run(capsys, "albums", "list")
    assert "Favourites" not in out and "Space" in out
