"""Build small Green Button ESPI feeds for tests (valid against schemas/usage.xsd unless broken on purpose)."""

from __future__ import annotations

BASE = "https://coop.example/DataCustodian/espi/1_1/resource"


def _entry(uuid: str, title: str, links: list[tuple[str, str]], content: str) -> str:
    link_xml = "".join(f'<link rel="{rel}" href="{href}" type="espi-entry/{title.split()[0]}"/>' for rel, href in links)
    return (
        f"<entry><id>urn:uuid:{uuid}</id>{link_xml}<title>{title}</title>"
        f"<published>2026-10-15T00:00:00Z</published><updated>2026-10-15T00:00:00Z</updated>"
        f'<content type="xml">{content}</content></entry>'
    )


def espi_feed(
    meter_number: str,
    readings: list[tuple[int, int, int | None, str | None]],
    *,
    flow: int = 1,
    uom: int = 72,
    multiplier: int = 0,
    interval: int = 900,
) -> bytes:
    """``readings``: (start epoch s, duration s, value or None, ESPI quality code or None)."""
    up = f"{BASE}/RetailCustomer/1/UsagePoint/1"
    mr = f"{up}/MeterReading/1"
    rt = f"{BASE}/ReadingType/1"
    blocks = []
    for start, duration, value, quality in readings:
        quality_xml = f"<ReadingQuality><quality>{quality}</quality></ReadingQuality>" if quality else ""
        value_xml = f"<value>{value}</value>" if value is not None else ""
        blocks.append(
            f"<IntervalReading>{quality_xml}<timePeriod><duration>{duration}</duration><start>{start}</start></timePeriod>{value_xml}</IntervalReading>"
        )
    first = readings[0][0] if readings else 0
    entries = [
        _entry(
            "11111111-1111-4111-8111-111111111111",
            meter_number,
            [("self", up), ("related", f"{up}/MeterReading")],
            '<UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>0</kind></ServiceCategory></UsagePoint>',
        ),
        _entry(
            "22222222-2222-4222-8222-222222222222",
            "Meter reading",
            [("self", mr), ("up", f"{up}/MeterReading"), ("related", f"{mr}/IntervalBlock"), ("related", rt)],
            '<MeterReading xmlns="http://naesb.org/espi"/>',
        ),
        _entry(
            "33333333-3333-4333-8333-333333333333",
            "Type",
            [("self", rt), ("up", f"{BASE}/ReadingType")],
            f'<ReadingType xmlns="http://naesb.org/espi"><accumulationBehaviour>4</accumulationBehaviour><commodity>1</commodity>'
            f"<flowDirection>{flow}</flowDirection><intervalLength>{interval}</intervalLength><kind>12</kind>"
            f"<powerOfTenMultiplier>{multiplier}</powerOfTenMultiplier><uom>{uom}</uom></ReadingType>",
        ),
        _entry(
            "44444444-4444-4444-8444-444444444444",
            "Block",
            [("self", f"{mr}/IntervalBlock/1"), ("up", f"{mr}/IntervalBlock")],
            f'<IntervalBlock xmlns="http://naesb.org/espi"><interval><duration>{86400}</duration><start>{first}</start></interval>{"".join(blocks)}</IntervalBlock>',
        ),
    ]
    feed = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        "<id>urn:uuid:55555555-5555-4555-8555-555555555555</id><title>Green Button usage</title>"
        "<updated>2026-10-15T00:00:00Z</updated>" + "".join(entries) + "</feed>"
    )
    return feed.encode()
