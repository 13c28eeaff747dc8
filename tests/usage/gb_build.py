"""Build Green Button feeds for the corpus tests: several UsagePoints, any reading type, blocks as given.

Strict by default (links typed, published/updated present), so each file also checks that what the
tests feed the reader is valid ESPI 3.3; ``legacy=True`` writes the envelope an older producer would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BASE = "https://mdms.example/DataCustodian/espi/1_1/resource"


@dataclass
class Reading:
    start: int
    value: int | None
    duration: int = 900
    quality: str | None = None
    cost: int | None = None


@dataclass
class MeterReadingSpec:
    blocks: list[list[Reading]]
    uom: int = 72
    multiplier: int = 0
    flow: int | None = 1
    interval: int | None = 900
    accumulation: int = 4


@dataclass
class UsagePointSpec:
    point_id: str
    title: str = "Usage point"
    sdp_name: str | None = None
    meter_readings: list[MeterReadingSpec] = field(default_factory=list)


def _entry(self_href: str, up_href: str, kind: str, title: str, content: str, related=(), legacy=False) -> str:
    typed = (lambda t: "") if legacy else (lambda t: f' type="{t}"')
    links = [f'<link rel="self" href="{self_href}"{typed("espi-entry/" + kind)}/>']
    links.append(f'<link rel="up" href="{up_href}"{typed("espi-feed/" + kind)}/>')
    links += [f'<link rel="related" href="{href}"{typed("espi-feed/related")}/>' for href in related]
    stamps = "" if legacy else "<published>2026-01-01T00:00:00Z</published><updated>2026-01-01T00:00:00Z</updated>"
    return (
        f"<entry><id>urn:uuid:{abs(hash(self_href)):032x}</id>{''.join(links)}<title>{title}</title>"
        f'<content type="xml">{content}</content>{stamps}</entry>'
    )


def _reading_xml(reading: Reading) -> str:
    quality = f"<ReadingQuality><quality>{reading.quality}</quality></ReadingQuality>" if reading.quality else ""
    cost = f"<cost>{reading.cost}</cost>" if reading.cost is not None else ""
    value = f"<value>{reading.value}</value>" if reading.value is not None else ""
    return (
        f"<IntervalReading>{cost}{quality}<timePeriod><duration>{reading.duration}</duration>"
        f"<start>{reading.start}</start></timePeriod>{value}</IntervalReading>"
    )


def _reading_type(spec: MeterReadingSpec) -> str:
    flow = f"<flowDirection>{spec.flow}</flowDirection>" if spec.flow is not None else ""
    interval = f"<intervalLength>{spec.interval}</intervalLength>" if spec.interval is not None else ""
    return (
        f'<ReadingType xmlns="http://naesb.org/espi"><accumulationBehaviour>{spec.accumulation}</accumulationBehaviour>'
        f"<commodity>1</commodity>{flow}{interval}<kind>12</kind>"
        f"<powerOfTenMultiplier>{spec.multiplier}</powerOfTenMultiplier><uom>{spec.uom}</uom></ReadingType>"
    )


def _meter_reading_entries(up_self: str, number: int, spec: MeterReadingSpec, legacy: bool) -> list[str]:
    mr = f"{up_self}/MeterReading/{number}"
    rt = f"{BASE}/ReadingType/{abs(hash(mr)) % 10**8}"
    entries = [
        _entry(
            mr,
            f"{up_self}/MeterReading",
            "MeterReading",
            "Readings",
            '<MeterReading xmlns="http://naesb.org/espi"/>',
            [f"{mr}/IntervalBlock", rt],
            legacy,
        ),
        _entry(rt, f"{BASE}/ReadingType", "ReadingType", "Type", _reading_type(spec), (), legacy),
    ]
    for index, block in enumerate(spec.blocks, start=1):
        first = min((r.start for r in block), default=0)
        end = max((r.start + r.duration for r in block), default=0)
        content = (
            f'<IntervalBlock xmlns="http://naesb.org/espi"><interval><duration>{end - first}</duration>'
            f"<start>{first}</start></interval>{''.join(map(_reading_xml, block))}</IntervalBlock>"
        )
        entries.append(
            _entry(f"{mr}/IntervalBlock/{index}", f"{mr}/IntervalBlock", "IntervalBlock", "Block", content, (), legacy)
        )
    return entries


def build_feed(
    points: list[UsagePointSpec],
    *,
    legacy: bool = False,
    local_time: tuple[int, int] | None = None,
    extra_entries: str = "",
) -> bytes:
    entries: list[str] = []
    if local_time is not None:
        entries.append(
            _entry(
                f"{BASE}/LocalTimeParameters/1",
                f"{BASE}/LocalTimeParameters",
                "LocalTimeParameters",
                "Zone",
                f'<LocalTimeParameters xmlns="http://naesb.org/espi"><dstEndRule>B40E2000'
                f"</dstEndRule><dstOffset>{local_time[1]}</dstOffset><dstStartRule>360E2000"
                f"</dstStartRule><tzOffset>{local_time[0]}</tzOffset></LocalTimeParameters>",
                (),
                legacy,
            )
        )
    for point in points:
        up_self = f"{BASE}/Subscription/9/UsagePoint/{point.point_id}"
        sdp = f"<serviceDeliveryPoint><name>{point.sdp_name}</name></serviceDeliveryPoint>" if point.sdp_name else ""
        entries.append(
            _entry(
                up_self,
                f"{BASE}/Subscription/9/UsagePoint",
                "UsagePoint",
                point.title,
                '<UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>0</kind>'
                f"</ServiceCategory>{sdp}</UsagePoint>",
                [f"{up_self}/MeterReading"],
                legacy,
            )
        )
        for number, spec in enumerate(point.meter_readings, start=1):
            entries.extend(_meter_reading_entries(up_self, number, spec, legacy))
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    head += "<id>urn:uuid:55555555-5555-4555-8555-555555555555</id><title>Corpus</title>"
    head += "<updated>2026-01-01T00:00:00Z</updated>"
    return (head + "\n".join(entries) + extra_entries + "</feed>").encode()
