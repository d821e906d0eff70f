"""The query language, table-driven: what each query is read as (terms and filters), and the one line each
bad query gets (issue #27)."""

from datetime import date

import pytest

from engine.dates import describe, parse_dates
from engine.errors import QueryError
from engine.query import filter_label, parse_query, split_filters

READ_AS = [
    # query -> [(kind, value)] in the order parse_query gives them (filters first)
    ("beach", [("text", "beach")]),
    ("beach 2019", [("date", "2019-01-01..2019-12-31"), ("text", "beach")]),
    ("kids on a beach july 2019", [("date", "2019-07-01..2019-07-31"), ("text", "kids on a beach")]),
    ("2019 July sunset", [("date", "2019-07-01..2019-07-31"), ("text", "sunset")]),
    ("Sept. 2021 wedding", [("date", "2021-09-01..2021-09-30"), ("text", "wedding")]),
    ("birthday 2019-07", [("date", "2019-07-01..2019-07-31"), ("text", "birthday")]),
    ("2019-07-14 fireworks", [("date", "2019-07-14..2019-07-14"), ("text", "fireworks")]),
    ("snow 2018..2020", [("date", "2018-01-01..2020-12-31"), ("text", "snow")]),
    ("2019-06..2019-08-15", [("date", "2019-06-01..2019-08-15")]),
    ("date:2016 dogs", [("date", "2016-01-01..2016-12-31"), ("text", "dogs")]),
    ('"1984" poster', [("text", '"1984" poster')]),  # quoted: words, not a year
    ("IMG_2019 copy", [("text", "IMG_2019 copy")]),
    ("id:2019", [("photo", "2019")]),
    ("2:sunset + beach", [("text", "sunset"), ("text", "beach")]),
    ("beach - 2019", [("text", "beach"), ("text", "2019")]),  # subtracted: a word to take away, not a filter
    ("top 10 1066", [("text", "top 10 1066")]),  # not a year a photo was taken in
    ("tag:dog park", [("tag", "dog"), ("text", "park")]),
    ('tag:"Summer camp" lake', [("tag", "Summer camp"), ("text", "lake")]),
    ("sunset folder:Holidays", [("folder", "Holidays"), ("text", "sunset")]),
    ("place:Lisbon tram tag:family 2023", [("place", "Lisbon"), ("tag", "family"),
                                          ("date", "2023-01-01..2023-12-31"), ("text", "tram")]),
    ("person:Anna + person:Bob beach", [("person", "Anna"), ("person", "Bob"), ("text", "beach")]),
    ("person:Anna beach + person:Bob", [("person", "Anna"), ("person", "Bob"), ("text", "beach")]),
    ("person:Anna person:Bob at the lake", [("person", "Anna"), ("person", "Bob"), ("text", "at the lake")]),
    ('person:"Anna Smith" lake', [("person", "Anna Smith"), ("text", "lake")]),
    ("- person:Bob beach", [("person", "Bob"), ("text", "beach")]),  # Bob left out; beach still wanted
    ("tag:dog", [("tag", "dog")]),  # only a filter: its photos, newest first
    ('album:"Summer 2019" kids', [("album", "Summer 2019"), ("text", "kids")]),
    ("x" * 10_000, [("text", "x" * 10_000)]),
    # words read in the photo: several text: terms = all of them; a year inside one is a word, not a date
    ('text:"open 24h" bakery', [("written", "open 24h"), ("text", "bakery")]),
    ("text:Lisboa text:1923", [("written", "Lisboa"), ("written", "1923")]),
    ('"text:menu" board', [("text", '"text:menu" board')]),  # quoted: words
]


@pytest.mark.parametrize(("query", "want"), READ_AS, ids=[q[:40] for q, _ in READ_AS])
def test_what_a_query_is_read_as(query, want):
    terms = parse_query(query)
    assert [(t.kind, t.value) for t in terms] == want
    if "person:" in query:  # a subtracted person takes its sign along: the words stay wanted
        assert all(t.weight > 0 for t in terms if t.kind == "text")
    if query.startswith("- person:"):
        assert terms[0].weight < 0


REFUSED = [
    ("2019-13-40", "a month is 1 to 12"),
    ("2019-02-30", "February 2019 has days 1 to 28"),
    ("beach 2020..2018", "ends before it starts"),
    ("date:yesterday", "not a date"),
    ("person:", "person: needs a name"),
    ("tag: beach", "tag: needs a name"),
    ("place:", "place: needs a name"),
    ("album:", "album: needs a name"),
    ("album:a album:b", "one album"),
    ("text:", "text: needs words"),
    ('text:""', "text: needs words"),
    ("beach - text:open", "cannot be subtracted"),
    ('"beach', "unbalanced quote"),
    ("beach - tag:dog", "cannot be subtracted"),
    ("tag:dog tag:cat", "one tag"),
    ("beach 2019 2020", "write a range: 2018..2020"),
    ("- people", "at least one positive term"),
    ("place:a>b>c>d", "at most three levels"),
]


@pytest.mark.parametrize(("query", "message"), REFUSED, ids=[q for q, _ in REFUSED])
def test_a_bad_query_gets_one_line(query, message):
    with pytest.raises(QueryError, match=message) as e:
        parse_query(query)
    assert "\n" not in str(e.value)


def test_quoted_filters_stay_words_and_a_filter_keeps_its_words():
    assert [(t.kind, t.value) for t in parse_query('"tag:dog and place:Rome" + 2:x')] == [
        ("text", "tag:dog and place:Rome"), ("text", "x")]
    date_term = parse_query("beach july 2019")[0]
    assert date_term.words == "july 2019" and filter_label(date_term) == "Date: July 2019"
    terms, wanted = split_filters(parse_query("beach tag:dog 2019-07-14 folder:Trips place:Kyoto"))
    assert [t.value for t in terms] == ["beach"]
    assert (wanted.tag, wanted.folder, wanted.place) == ("dog", "Trips", "Kyoto")
    assert (wanted.date_from, wanted.date_to) == (date(2019, 7, 14), date(2019, 7, 14))
    terms, wanted = split_filters(parse_query('menu text:"Café  Lisboa" text:1923'))
    assert [t.value for t in terms] == ["menu"] and wanted.text == ("Café", "Lisboa", "1923") and wanted.active
    assert filter_label(parse_query('text:"Café Lisboa"')[0]) == 'Text: "Café Lisboa"'


@pytest.mark.parametrize(("text", "first", "last", "label"), [
    ("2019", date(2019, 1, 1), date(2019, 12, 31), "2019"),
    ("2020-02", date(2020, 2, 1), date(2020, 2, 29), "February 2020"),
    ("jul 2019", date(2019, 7, 1), date(2019, 7, 31), "July 2019"),
    ("2019-7-4", date(2019, 7, 4), date(2019, 7, 4), "4 July 2019"),
    ("2018..2020", date(2018, 1, 1), date(2020, 12, 31), "2018 to 2020"),
    ("2019-06..2019-08-15", date(2019, 6, 1), date(2019, 8, 15), "2019-06-01 to 2019-08-15"),
])
def test_dates_name_their_first_and_last_day(text, first, last, label):
    assert parse_dates(text) == (first, last)
    assert describe(first, last) == label


PLACES = {"lisbon", "portugal", "new york", "kyoto", "paris", "ny", "京都"}
PERSONS = {"anna": "Anna", "zoe": "Zoë", "paris": "Paris"}
UNDERSTOOD = [
    ("beach lisbon", [("place", "lisbon"), ("text", "beach")]),
    ("anna at the lake", [("person", "Anna"), ("text", "at the lake")]),
    ("zoe in New York, sunset", [("person", "Zoë"), ("place", "New York,"[:-1]), ("text", "in sunset")]),
    ('"lisbon" tram', [("text", '"lisbon" tram')]),  # quoted: words
    ("Lisbon", [("place", "Lisbon")]),  # only a place: its photos
    ("place:Kyoto lisbon tram", [("place", "Kyoto"), ("text", "lisbon tram")]),  # one place per query
    ("paris at night", [("text", "paris at night")]),  # a place and a person: ambiguous, words
    ("ny skyline", [("text", "ny skyline")]),  # too short to be sure of
    ("temple 京都", [("place", "京都"), ("text", "temple")]),  # two characters are a whole name in Japanese
    ("beach - lisbon", [("text", "beach"), ("text", "lisbon")]),  # subtracted: a word to take away
    ("anna + zoe", [("person", "Anna"), ("person", "Zoë")]),
]


@pytest.mark.parametrize(("query", "want"), UNDERSTOOD, ids=[q for q, _ in UNDERSTOOD])
def test_plain_words_naming_a_known_place_or_person_are_read_as_filters(query, want):
    from engine.query import understand_names

    terms = understand_names(parse_query(query), PLACES, PERSONS)
    assert [(t.kind, t.value) for t in terms] == want
    for t in terms:
        if t.kind in ("place", "person") and not query.startswith("place:"):
            assert t.words.lower().strip(",") in query.lower()  # the words a chip gives back when removed


def test_a_bare_date_no_photo_was_taken_on_is_words_again():
    from engine.query import understand_names

    photos_in = {2018, 2019}

    def dated(first: date, last: date) -> bool:
        return any(first.year <= y <= last.year for y in photos_in)

    def read(query: str) -> list[tuple[str, str]]:
        return [(t.kind, t.value) for t in understand_names(parse_query(query), set(), {}, dated)]

    assert read("cafe 1923") == [("text", "1923"), ("text", "cafe")]  # a year on a sign, not an empty filter
    assert read("beach 2019") == [("date", "2019-01-01..2019-12-31"), ("text", "beach")]
    assert read("snow 2010..2018") == [("date", "2010-01-01..2018-12-31"), ("text", "snow")]  # meets 2018
    assert read("date:1923 cafe") == [("date", "1923-01-01..1923-12-31"), ("text", "cafe")]  # asked for: kept
    assert read("july 1999") == [("date", "1999-07-01..1999-07-31")]  # a date alone means the date: none then
    assert read("party july 1999") == [("text", "july 1999"), ("text", "party")]
