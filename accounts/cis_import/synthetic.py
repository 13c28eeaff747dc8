"""Synthetic legacy-CIS CSV rows (fake but valid-looking), for the demo data, tests and benchmarks.

Deterministic per index, so a re-run produces the same members (the import then skips them). SSNs use
areas 100-665, licence numbers start with ``D`` and ZIPs are in Illinois; none belongs to a real person
by construction, but they pass the same validation as real input.
"""

from __future__ import annotations

import csv
import datetime
import io

from accounts.cis_import.cleaning import COLUMNS

_AREA_CODES = ("217", "309", "618", "815", "630", "708", "773", "312", "847", "224", "331", "779")
_FIRST = ("Alex", "Jordan", "Casey", "Riley", "Morgan", "Taylor", "Jamie", "Avery", "Quinn", "Rowan", "Sage", "Emerson")
_LAST = (
    "Whitfield",
    "Okafor",
    "Lindqvist",
    "Reyes",
    "Novak",
    "Marsh",
    "Iyer",
    "Hale",
    "Oduya",
    "Brandt",
    "Kowalski",
    "Nguyen",
)
_STREETS = ("Main St", "N Oak Ave", "County Road 5", "W Elm St", "Prairie Ln", "S Church St", "Cedar Ct", "Mill Rd")
_CITIES = (
    ("Springfield", "62701"),
    ("Decatur", "62521"),
    ("Peoria", "61602"),
    ("Carlinville", "62626"),
    ("Taylorville", "62568"),
)


def synthetic_row(index: int, *, prefix: str = "L") -> dict[str, str]:
    area = 100 + index // (99 * 9000) % 565
    group = 1 + index // 9000 % 99
    serial = 1000 + index % 9000
    city, postal = _CITIES[index % len(_CITIES)]
    business = index % 25 == 0
    row = {
        "member_number": f"{prefix}{index:08d}",
        "kind": "business" if business else "person",
        "legal_name": f"{_FIRST[index % 12]} {_LAST[index // 12 % 12]} {index}"
        if not business
        else f"{_LAST[index % 12]} Farms {index} LLC",
        "status": "active" if index % 20 else "former",
        "joined_on": (datetime.date(1995, 1, 1) + datetime.timedelta(days=index % 9000)).isoformat(),
        "mailing_line1": f"{1 + index % 9000} {_STREETS[index % len(_STREETS)]}",
        "mailing_city": city,
        "mailing_state": "IL",
        "mailing_postal_code": postal,
        "phone": f"({_AREA_CODES[index // 10000 % len(_AREA_CODES)]}) 555-{index % 10000:04d}",
        "email": f"member{index}@example.test",
        "ssn": "" if business else f"{area:03d}-{group:02d}-{serial:04d}",
        "tin": f"{(12, 20, 30, 41, 52, 61, 75, 84, 91, 98)[index % 10]:02d}-{index % 10_000_000:07d}"
        if business
        else "",
        "date_of_birth": ""
        if business
        else (datetime.date(1940, 1, 1) + datetime.timedelta(days=index * 37 % 21000)).isoformat(),
        "drivers_licence_number": "" if business else f"D{index:011d}",
        "drivers_licence_state": "" if business else "IL",
        "bank_routing_number": "011000015" if index % 3 == 0 else "",
        "bank_account_number": f"{index:010d}" if index % 3 == 0 else "",
        "account_number": f"A{prefix}{index:08d}",
        "account_status": "closed" if index % 20 == 0 else "open",
        "premise_number": f"P{prefix}{index:08d}",
        "service_line1": f"{1 + index % 9000} {_STREETS[(index + 3) % len(_STREETS)]}",
        "service_city": city,
        "service_state": "IL",
        "service_postal_code": postal,
        "meter_number": f"MTR{prefix}{index:08d}",
        "has_solar": "yes" if index % 10 == 0 else "no",
        "gate_code": f"{index % 10000:04d}#" if index % 7 == 0 else "",
        "meter_reading_notes": "Dog in the yard; knock first" if index % 11 == 0 else "",
        "dog_warning": "yes" if index % 11 == 0 else "no",
    }
    return row


def synthetic_csv(count: int, *, start: int = 0, prefix: str = "L") -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for index in range(start, start + count):
        writer.writerow(synthetic_row(index, prefix=prefix))
    return buffer.getvalue()
