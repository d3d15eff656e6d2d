"""Regenerate countries.csv and elements.csv from the raw real files (provenance, not runtime).

Run once from the repo root with the raw files beside it:
    python manifests/tables/curate.py ../shared/data/real/facts
The builder never runs this; it reads the committed CSVs. Every fix is listed here so a reviewer
can see exactly how the curated tables differ from their sources.
"""

import csv
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COUNTRY_SRC = "samayo/country-json@41d4084bc1ccf9614dab45255a41ba3a5473be74"
ELEMENT_SRC = "Bowserinator/Periodic-Table-JSON@ea41119626581350fdcdd9c873de233645a43023"

# Capitals given in a local spelling, or out of date, in the source: English exonyms / current.
CAPITAL_FIXES = {
    "Algeria": "Algiers",
    "Austria": "Vienna",
    "Bahrain": "Manama",
    "Belgium": "Brussels",
    "Burundi": "Gitega",  # capital moved from Bujumbura in 2019
    "Cameroon": "Yaoundé",
    "Chile": "Santiago",
    "China": "Beijing",
    "Colombia": "Bogotá",
    "Cuba": "Havana",
    "Czech Republic": "Prague",
    "Dominican Republic": "Santo Domingo",
    "Ethiopia": "Addis Ababa",
    "Finland": "Helsinki",
    "Greece": "Athens",
    "Guatemala": "Guatemala City",
    "Italy": "Rome",
    "Kiribati": "South Tarawa",
    "Kuwait": "Kuwait City",
    "Luxembourg": "Luxembourg City",
    "Maldives": "Malé",
    "Marshall Islands": "Majuro",
    "Mauritius": "Port Louis",
    "Mexico": "Mexico City",
    "Monaco": "Monaco",
    "Mongolia": "Ulaanbaatar",
    "Myanmar": "Naypyidaw",  # capital since 2006; the source still has Rangoon
    "Oman": "Muscat",
    "Palau": "Ngerulmud",  # capital since 2006; the source still has Koror
    "Panama": "Panama City",
    "Poland": "Warsaw",
    "Portugal": "Lisbon",
    "Romania": "Bucharest",
    "Sudan": "Khartoum",
    "Uzbekistan": "Tashkent",
    "United States": "Washington, D.C.",
    "Vanuatu": "Port Vila",
}
COUNTRY_RENAMES = {
    "Congo": "Republic of the Congo",
    "The Democratic Republic of Congo": "Democratic Republic of the Congo",
    "Fiji Islands": "Fiji",
    "Micronesia, Federated States of": "Micronesia",
}
# Dropped: territories and dependencies (not sovereign states), the UK's constituent countries
# (their capitals collide with the UK's), rows with contested or multiple capitals, and typos.
DROP = {
    "American Samoa",
    "Anguilla",
    "Antarctica",
    "Aruba",
    "Bermuda",
    "Bouvet Island",
    "British Indian Ocean Territory",
    "Cayman Islands",
    "Christmas Island",
    "Cocos (Keeling) Islands",
    "Cook Islands",
    "Falkland Islands",
    "Faroe Islands",
    "French Guiana",
    "French Polynesia",
    "French Southern territories",
    "Gibraltar",
    "Greenland",
    "Guadeloupe",
    "Guam",
    "Heard Island and McDonald Islands",
    "Hong Kong",
    "Macao",
    "Martinique",
    "Mayotte",
    "Montserrat",
    "Netherlands Antilles",
    "New Caledonia",
    "Niue",
    "Norfolk Island",
    "Northern Mariana Islands",
    "Pitcairn",
    "Puerto Rico",
    "Reunion",
    "Saint Helena",
    "Saint Pierre and Miquelon",
    "South Georgia and the South Sandwich Islands",
    "Svalbard and Jan Mayen",
    "Tokelau",
    "Turks and Caicos Islands",
    "United States Minor Outlying Islands",
    "Virgin Islands, British",
    "Virgin Islands, U.S.",
    "Wallis and Futuna",
    "Western Sahara",
    "England",
    "Scotland",
    "Wales",
    "Northern Ireland",
    "Holy See (Vatican City State)",
    "Vetican City",  # city-state; the second is a typo row
    "Israel",
    "Palestine",  # contested capitals
    "Bolivia",
    "South Africa",
    "Sri Lanka",
    "Nauru",  # several or no official capitals
}
# Countries spanning two continents: no single well-established answer, so no continent.
TRANSCONTINENTAL = {
    "Russia",
    "Turkey",
    "Kazakhstan",
    "Azerbaijan",
    "Georgia",
    "Armenia",
    "Cyprus",
    "Egypt",
}


def curate_countries(raw: Path) -> None:
    capitals = json.loads((raw / "country-by-capital-city.json").read_text())
    continents = {
        r["country"]: r["continent"]
        for r in json.loads((raw / "country-by-continent.json").read_text())
    }
    rows = []
    for i, r in enumerate(capitals):
        country = r["country"]
        if country in DROP or not r["city"]:
            continue
        capital = CAPITAL_FIXES.get(country, r["city"])
        continent = "" if country in TRANSCONTINENTAL else continents[country]
        note = f"capital was {r['city']!r} in source" if capital != r["city"] else ""
        src = f"{COUNTRY_SRC} src/country-by-capital-city.json item {i}"
        rows.append(
            {
                "country": COUNTRY_RENAMES.get(country, country),
                "capital": capital,
                "continent": continent,
                "note": note,
                "source": src,
                "licence": "MIT",
            }
        )
    rows.sort(key=lambda r: r["country"])
    _write(HERE / "countries.csv", rows)


# Discoverers kept only where one person is the well-established credit; ancient metals,
# institutes, joint or disputed discoveries are blanked (see PROVENANCE.md).
DISCOVERER_KEEP = {
    "H",
    "Li",
    "Be",
    "N",
    "Na",
    "Mg",
    "Si",
    "P",
    "Cl",
    "K",
    "Ca",
    "Sc",
    "Ti",
    "Cr",
    "Co",
    "Ni",
    "Ga",
    "Ge",
    "Se",
    "Br",
    "Kr",
    "Y",
    "Zr",
    "Nb",
    "Mo",
    "Ru",
    "Rh",
    "Pd",
    "Te",
    "I",
    "Xe",
    "Ba",
    "La",
    "Pr",
    "Nd",
    "Sm",
    "Eu",
    "Gd",
    "Tb",
    "Dy",
    "Er",
    "Tm",
    "Yb",
    "Lu",
    "Ta",
    "Os",
    "Ir",
    "Tl",
    "Rn",
    "Fr",
    "Th",
    "U",
    "Np",
    "Pu",
    "Am",
    "Cm",
}
NAME_FIXES = {
    "Jöns Jakob Berzelius": "Jöns Jacob Berzelius",
    "Lecoq de Boisbaudran": "Paul-Émile Lecoq de Boisbaudran",
}
CATEGORY_FIXES = {
    "diatomic nonmetal": "reactive nonmetal",
    "polyatomic nonmetal": "reactive nonmetal",
}


def curate_elements(raw: Path) -> None:
    rows = []
    with open(raw / "PeriodicTableCSV.csv", newline="", encoding="utf-8") as f:
        for i, r in enumerate(csv.DictReader(f)):
            number = int(r["number"])
            if number > 118:  # ununennium is hypothetical
                continue
            category = CATEGORY_FIXES.get(r["category"], r["category"])
            if category.startswith("unknown"):
                category = ""
            disc = r["discovered_by"] if r["symbol"] in DISCOVERER_KEEP else ""
            rows.append(
                {
                    "number": number,
                    "symbol": r["symbol"],
                    "name": r["name"],
                    "category": category,
                    "period": r["period"],
                    "discovered_by": NAME_FIXES.get(disc, disc),
                    "source": f"{ELEMENT_SRC} PeriodicTableCSV.csv row {i}; {r['source']}",
                    "licence": "CC BY-SA 3.0",
                }
            )
    _write(HERE / "elements.csv", rows)


# Lanthanides and actinides: their group (3, or none) and the block of La/Ac/Lu/Lr are a matter
# of convention, so element_groups.csv asks neither about them.
F_SERIES = set(range(57, 72)) | set(range(89, 104))


def curate_element_groups(raw: Path) -> None:
    """Knowledge-table rows (entity, relation, value): each element's group and block."""
    rows = []
    with open(raw / "PeriodicTableCSV.csv", newline="", encoding="utf-8") as f:
        for i, r in enumerate(csv.DictReader(f)):
            number = int(r["number"])
            if number > 118 or number in F_SERIES:
                continue
            src = f"{ELEMENT_SRC} PeriodicTableCSV.csv row {i}; {r['source']}"
            for relation, value in (("element_group", r["group"]), ("element_block", r["block"])):
                if relation == "element_block":
                    value = f"{value}-block"
                rows.append(
                    {
                        "entity": r["name"].lower(),
                        "relation": relation,
                        "value": value,
                        "source": src,
                        "licence": "CC BY-SA 3.0",
                    }
                )
    _write(HERE / "element_groups.csv", rows)


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    raw_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/real/facts")
    curate_countries(raw_dir)
    curate_elements(raw_dir)
    curate_element_groups(raw_dir)
