"""Places as the catalog stores and filters them: the Place row, how names are compared (keys) and a place
filter's keys. Shared by the catalog (which imports no feature module) and engine.places (which names them)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

PATH_SEPARATOR = ">"  # "Portugal > Lisbon > Sintra": a place given level by level, country first


@dataclass(frozen=True)
class Place:
    city: str
    region: str  # admin1 (state, prefecture, district); the country's name where GeoNames has none
    country: str
    country_code: str

    @property
    def name(self) -> str:
        """"Sintra, Lisbon, Portugal"; the region is left out where it repeats the city ("Lisbon, Portugal")."""
        parts = [self.city] + ([self.region] if self.region not in (self.city, self.country) else []) + [self.country]
        return ", ".join(parts)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "city": self.city, "region": self.region, "country": self.country,
                "country_code": self.country_code}


def fold_key(text: str) -> str:
    """How names and words are compared: case, accents and spacing do not count ("kyoto" finds "Kyōto")."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


# a library's photos share a few hundred place names: folding each once is enough
place_key = lru_cache(maxsize=1 << 16)(fold_key)


def place_spec_keys(spec: str) -> list[str]:
    """A place filter as keys: one name (any level), or names level by level, country first ("Japan > Kyoto").

    Raises ValueError for an empty filter or more than three levels."""
    keys = [place_key(part) for part in spec.split(PATH_SEPARATOR)]
    if not any(keys) or (len(keys) > 1 and not all(keys)):
        raise ValueError(f"not a place: {spec!r} (a name, or country > region > city)")
    if len(keys) > 3:
        raise ValueError(f"a place has at most three levels (country > region > city): {spec!r}")
    return keys

