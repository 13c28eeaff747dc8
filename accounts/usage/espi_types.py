"""What an ESPI ReadingType and LocalTimeParameters mean to the store (docs/usage.md, "Reading types").

``interpret`` turns a ReadingType into what its readings need (channel, unit scale, default interval
and quality), or into the reason its readings cannot be loaded: the store holds interval energy in
whole watt-hours on a delivered and a received channel, so a ReadingType for anything else (power,
reactive energy, gas, register reads, net flow) is refused with a reason naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from accounts.usage import timegrid
from accounts.usage.espi import FLOW_DELIVERED, FLOW_RECEIVED, QUALITY_FROM_ESPI, UOM_WH
from accounts.usage.readings import DURATION_TO_MINUTES, DURATIONS_TEXT, MalformedFile

Warn = Callable[[int, str], None]

UOM_NAMES = {
    "5": "A",
    "29": "V",
    "33": "Hz",
    "38": "W",
    "42": "m3",
    "61": "VA",
    "63": "VAr",
    "71": "VAh",
    "72": "Wh",
    "73": "VArh",
    "119": "ft3",
    "169": "therm",
}
ACCUMULATION_NAMES = {
    "1": "bulkQuantity",
    "3": "cumulative",
    "6": "indicating",
    "9": "summation",
    "12": "instantaneous",
}
FLOW_NAMES = {"0": "none", "4": "net", "20": "total"}
ELECTRICITY = {"0", "1", "2"}  # none, electricity secondary metered, electricity primary metered
KIND_ENERGY = "12"
ACCUMULATION_DELTA = "4"
MAX_POWER_OF_TEN = 9


class Scale:
    """Raw reading value -> whole watt-hours (``value * 10 ** powerOfTenMultiplier``, rounded half to even)."""

    __slots__ = ("divisor", "factor")

    def __init__(self, multiplier: int):
        self.factor = 10**multiplier if multiplier >= 0 else 0
        self.divisor = 10**-multiplier if multiplier < 0 else 1

    def wh(self, raw: int) -> int:
        return raw * self.factor if self.factor else round(raw / self.divisor)

    @staticmethod
    def quality(text: str | None, default: int) -> int:
        return QUALITY_FROM_ESPI.get((text or "").strip(), default)


class BlockContext(NamedTuple):
    """What an IntervalBlock's readings take from their MeterReading's UsagePoint and ReadingType."""

    meter_key: int
    channel_bit: int
    default_duration: str | None  # the ReadingType's intervalLength, for readings without a duration
    scale: Scale
    default_quality: int


_ESPI_PREFIX = len("{http://naesb.org/espi}")


class _Fields(dict):
    """A resource's simple child elements by local name, read in one walk over its children."""

    def __init__(self, element):
        super().__init__(
            (child.tag[_ESPI_PREFIX:], child.text.strip())
            for child in element
            if isinstance(child.tag, str) and child.text and child.text.strip()
        )


def _field(fields: dict, name: str) -> str | None:
    return fields.get(name)


def _refusal(reading_type: dict) -> str | None:
    """Why the store cannot hold readings of this type, or None."""
    uom = _field(reading_type, "uom")
    if uom != str(UOM_WH):
        unit = UOM_NAMES.get(uom or "", "unknown unit")
        return f"ReadingType uom {uom} ({unit}) is not energy in Wh or kWh (uom 72); the store holds watt-hours only"
    accumulation = _field(reading_type, "accumulationBehaviour")
    if accumulation not in (None, ACCUMULATION_DELTA):
        name = ACCUMULATION_NAMES.get(accumulation, "not interval data")
        return f"ReadingType accumulationBehaviour {accumulation} ({name}) is not interval energy (deltaData, 4)"
    commodity = _field(reading_type, "commodity")
    if commodity not in (None, *ELECTRICITY):
        return f"ReadingType commodity {commodity} is not electricity"
    kind = _field(reading_type, "kind")
    if kind not in (None, KIND_ENERGY):
        return f"ReadingType kind {kind} is not energy (12)"
    multiplier = int(_field(reading_type, "powerOfTenMultiplier") or "0")
    if abs(multiplier) > MAX_POWER_OF_TEN:
        return f"ReadingType powerOfTenMultiplier {multiplier} is outside -9 to 9"
    interval = _field(reading_type, "intervalLength")
    if interval is not None and interval not in DURATION_TO_MINUTES:
        return f"ReadingType intervalLength {interval} s is not one the store holds ({DURATIONS_TEXT})"
    return None


def interpret(reading_type, meter_key: int, warn: Warn) -> BlockContext | str:
    """The context for readings of ``reading_type`` on the meter ``meter_key``, or why none can be loaded."""
    line = reading_type.sourceline
    reading_type = _Fields(reading_type)
    refusal = _refusal(reading_type)
    if refusal:
        return refusal
    flow = _field(reading_type, "flowDirection")
    if flow is None:
        warn(line, "ReadingType has no flowDirection; its readings are taken as delivered")
        flow = str(FLOW_DELIVERED)
    if flow not in (str(FLOW_DELIVERED), str(FLOW_RECEIVED)):
        name = FLOW_NAMES.get(flow, "unknown")
        return (
            f"ReadingType flowDirection {flow} ({name}) has no channel: the store holds delivered (1) and "
            "received (19) energy separately"
        )
    default_quality = QUALITY_FROM_ESPI.get(_field(reading_type, "defaultQuality") or "0", ord("A"))
    return BlockContext(
        meter_key=meter_key,
        channel_bit=0 if flow == str(FLOW_DELIVERED) else 1,
        default_duration=_field(reading_type, "intervalLength"),
        scale=Scale(int(_field(reading_type, "powerOfTenMultiplier") or "0")),
        default_quality=default_quality,
    )


def _hours(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    return f"UTC{sign}{abs(seconds) // 3600:02d}:{abs(seconds) % 3600 // 60:02d}"


def check_local_time(element, warn: Warn) -> None:
    """LocalTimeParameters: refused if it is no real zone; a warning when it is not the co-op's zone.

    ESPI times are UTC instants, so the file's zone never moves a reading: each is placed on the
    co-op's local days (settings.TIME_ZONE). The warning tells staff the sender's days differ.
    """
    line = element.sourceline
    fields = _Fields(element)
    tz_offset = int(_field(fields, "tzOffset") or "0")
    dst_offset = int(_field(fields, "dstOffset") or "0")
    if abs(tz_offset) > 14 * 3600 or tz_offset % 900 or not 0 <= dst_offset <= 7200 or dst_offset % 900:
        raise MalformedFile(
            f"line {line}: LocalTimeParameters tzOffset {tz_offset} / dstOffset {dst_offset} is not a real time zone"
        )
    zone = timegrid.local_zone()
    winter, summer = timegrid.zone_offsets()
    if (tz_offset, dst_offset) != (winter, summer - winter):
        warn(
            line,
            f"LocalTimeParameters ({_hours(tz_offset)}, daylight saving +{dst_offset // 60} min) are not the co-op's "
            f"zone {zone.key} ({_hours(winter)}, +{(summer - winter) // 60} min): readings are UTC instants and are "
            "placed on the co-op's local days",
        )
