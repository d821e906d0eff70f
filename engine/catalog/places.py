"""Place rows of photos with a GPS position (engine.places names them), place counts and place filters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.catalog.part import CatalogPart, in_chunks
from engine.catalog.place_aliases import place_aliases
from engine.place_keys import Place, place_key, place_spec_keys

LEVEL_KEYS = ("city_key", "region_key", "country_key")


class Places(CatalogPart):
    """`catalog.places`: where photos were taken, as named places."""

    def photos_needing(self, limit: int = 1000, after_id: int = 0) -> list[tuple[int, float, float]]:
        """(id, lat, lon) of photos with a GPS position not yet looked up, or looked up for another position;
        ids above `after_id` (a cursor: each batch reads on from the last, not from the start)."""
        rows = self.conn.execute(
            "SELECT p.id, p.gps_lat, p.gps_lon FROM photos p LEFT JOIN places g ON g.photo_id = p.id "
            "WHERE p.id > ? AND p.gps_lat IS NOT NULL AND p.gps_lon IS NOT NULL "
            "AND (g.photo_id IS NULL OR g.lat IS NOT p.gps_lat OR g.lon IS NOT p.gps_lon) ORDER BY p.id LIMIT ?",
            (int(after_id), int(limit)))
        return [(int(i), float(la), float(lo)) for i, la, lo in rows]

    def count_photos_needing(self) -> int:
        return int(self.conn.execute(
            "SELECT COUNT(*) FROM photos p LEFT JOIN places g ON g.photo_id = p.id "
            "WHERE p.gps_lat IS NOT NULL AND p.gps_lon IS NOT NULL "
            "AND (g.photo_id IS NULL OR g.lat IS NOT p.gps_lat OR g.lon IS NOT p.gps_lon)").fetchone()[0])

    def forget_stale(self) -> int:
        """Drop the places of photos that no longer have a GPS position (the file changed)."""
        return self.conn.execute(
            "DELETE FROM places WHERE photo_id IN "
            "(SELECT id FROM photos WHERE gps_lat IS NULL OR gps_lon IS NULL)").rowcount

    def put(self, rows: Sequence[tuple[int, float, float, Place | None]]) -> None:
        """(photo id, lat, lon, place or None for "no place") for each photo looked up, in one transaction."""
        with self.transaction():
            # Only photos still there: the window names places beside an index that may forget photos meanwhile.
            self.conn.executemany(
                "INSERT INTO places(photo_id, lat, lon, city, region, country, country_code, city_key, "
                "region_key, country_key) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS "
                "(SELECT 1 FROM photos WHERE id = ?1) ON CONFLICT(photo_id) DO UPDATE SET "
                "lat = excluded.lat, lon = excluded.lon, city = excluded.city, region = excluded.region, "
                "country = excluded.country, country_code = excluded.country_code, city_key = excluded.city_key, "
                "region_key = excluded.region_key, country_key = excluded.country_key",
                [(pid, lat, lon, *((p.city, p.region, p.country, p.country_code, place_key(p.city),
                                    place_key(p.region), place_key(p.country)) if p else (None,) * 7))
                 for pid, lat, lon, p in rows])

    def of_photo(self, photo_id: int) -> Place | None:
        return self.of_photos([photo_id]).get(photo_id)

    def of_photos(self, ids: Sequence[int]) -> dict[int, Place]:
        out: dict[int, Place] = {}
        id_list = [int(i) for i in ids]
        for chunk, marks in in_chunks(id_list):
            for pid, city, region, country, code in self.conn.execute(
                    f"SELECT photo_id, city, region, country, country_code FROM places "
                    f"WHERE city IS NOT NULL AND photo_id IN ({marks})", chunk):
                out[int(pid)] = Place(city, region, country, code)
        return out

    def counts(self) -> list[tuple[str, str, str, int]]:
        """(country, region, city, photos) for every place with photos, for the sidebar."""
        rows = self.conn.execute(
            "SELECT country, region, city, COUNT(*) FROM places WHERE city IS NOT NULL "
            "GROUP BY country, region, city ORDER BY country, region, city")
        return [(c, r, t, int(n)) for c, r, t, n in rows]

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        """Those of `keys` (engine.place_keys.place_key) that name a place some photo was taken in, at any level:
        by the name the catalog stores, or by another name of a country or a large city ("lisboa", "deutschland";
        engine.catalog.place_aliases.PlaceAlias.prominent) whose place has photos."""
        wanted = sorted(set(keys))
        found = self._stored_keys(wanted)
        aliases = place_aliases(k for k in wanted if k not in found)
        places = {(a.country_code, a.place) for alias in aliases.values() for a in alias if a.prominent}
        with_photos = self._places_with_photos(places)
        found.update(k for k, alias in aliases.items()
                     if any(a.prominent and (a.country_code, a.place) in with_photos for a in alias))
        return found

    def known_stored(self, key: str) -> bool:
        """Whether some photo's place is called `key` (a place_key) at any level, by the name the catalog stores."""
        return bool(self._stored_keys([key]))

    def _stored_keys(self, wanted: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk, marks in in_chunks(wanted, 300):
            for row in self.conn.execute(
                    f"SELECT city_key FROM places WHERE city_key IN ({marks}) UNION "
                    f"SELECT region_key FROM places WHERE region_key IN ({marks}) UNION "
                    f"SELECT country_key FROM places WHERE country_key IN ({marks})", chunk * 3):
                found.add(row[0])
        return found

    def _places_with_photos(self, places: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Those of (country code, key) that name a place at any level in that country that has photos."""
        return {(code, key) for code, key in places if self.conn.execute(  # one index seek per level
            " UNION ALL ".join(f"SELECT 1 FROM places WHERE {col} = ? AND country_code = ?" for col in LEVEL_KEYS)
            + " LIMIT 1", (key, code) * len(LEVEL_KEYS)).fetchone()}

    def filter_sql(self, spec: str) -> tuple[str, list[object]]:
        """A WHERE clause on photos (and its parameters) for photos taken in a place: one name matches any
        level, case and accents aside ("lisbon", "Kyōto"); "Japan > Kyoto > Kyoto" matches level by level,
        country first. A name no photo's place goes by may be another name of a place (GeoNames' alternate
        names of places of 15,000 people or more, country names in every language: "Lisboa", "München",
        "Deutschland"): it matches what the place's own name would, in that place's country. A name some place
        of the library goes by means that place only (with photos from Roma, Texas, "Roma" is not Rome too).
        ValueError for a malformed spec."""
        keys = place_spec_keys(spec)
        stored = self._stored_keys(sorted(set(keys)))
        aliases = place_aliases(k for k in keys if k not in stored)
        # one name: any level; names level by level: country first
        levels = [LEVEL_KEYS] if len(keys) == 1 else [(col,) for col in reversed(LEVEL_KEYS)]
        where: list[str] = []
        params: list[object] = []
        for key, columns in zip(keys, levels, strict=False):
            names = f"({' OR '.join(f'{col} = ?' for col in columns)})"
            ors = [names]
            params += [key] * len(columns)
            for alias in aliases.get(key, []):
                ors.append(f"(country_code = ? AND {names})")
                params += [alias.country_code] + [alias.place] * len(columns)
            where.append(ors[0] if len(ors) == 1 else f"({' OR '.join(ors)})")
        return f"id IN (SELECT photo_id FROM places WHERE {' AND '.join(where)})", params

    def any_in(self, spec: str) -> bool:
        """Whether some photo was taken in the place `spec` names (see filter_sql)."""
        clause, params = self.filter_sql(spec)
        return self.conn.execute(f"SELECT 1 FROM photos WHERE {clause} LIMIT 1", params).fetchone() is not None

    def photo_ids_in(self, spec: str) -> set[int]:
        clause, params = self.filter_sql(spec)
        return {int(r[0]) for r in self.conn.execute(f"SELECT id FROM photos WHERE {clause}", params)}
