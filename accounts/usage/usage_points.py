"""Which meter a Green Button UsagePoint is (docs/usage.md, "Meters and UsagePoints").

A UsagePoint carries no meter number of its own. The co-op says which meter it is through
``UsagePointMapping`` rows (maintained in the admin and the API), by one of three identifiers, tried
in this order; the first that matches wins:

1. the service delivery point name or number (``serviceDeliveryPoint/name``);
2. the UsagePoint id: the last segment of its ``self`` link (``.../UsagePoint/5446AF3F`` -> ``5446AF3F``);
3. the Atom entry's title ("Front Electric Meter").

Without a mapping, a service delivery point name or title that *is* a meter number still matches that
meter (what MemberGuard's own files and most MDMS exports carry). Matching ignores case and surrounding
spaces. A UsagePoint none of these match is reported on the batch with every identifier, its readings
counted as not loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KIND_SDP = "sdp"
KIND_USAGE_POINT_ID = "usage_point_id"
KIND_TITLE = "title"
KINDS = (KIND_SDP, KIND_USAGE_POINT_ID, KIND_TITLE)


def normalized(value: str) -> str:
    return value.strip().casefold()


@dataclass
class UsagePointIds:
    """A UsagePoint's identifiers as found in the file."""

    self_href: str
    sdp_name: str
    title: str
    line: int
    related: list[str] = field(default_factory=list)

    @property
    def point_id(self) -> str:
        return self.self_href.rsplit("/", 1)[-1] if self.self_href else ""

    def candidates(self) -> list[tuple[str, str]]:
        return [(KIND_SDP, self.sdp_name), (KIND_USAGE_POINT_ID, self.point_id), (KIND_TITLE, self.title)]

    def report(self) -> dict:
        return {
            "line": self.line,
            "self_link": self.self_href[-200:],
            "usage_point_id": self.point_id[:100],
            "service_delivery_point": self.sdp_name[:100],
            "title": self.title[:100],
        }


class UsagePointResolver:
    """UsagePoint identifiers -> meter id, from the co-op's mapping and the meter numbers."""

    def __init__(self, *, meters: dict[str, int], mappings: dict[tuple[str, str], int] | None = None):
        self.meters = {normalized(number): meter_id for number, meter_id in meters.items()}
        self.mappings = mappings or {}

    def resolve(self, point: UsagePointIds) -> int | None:
        for kind, value in point.candidates():
            if value and (kind, normalized(value)) in self.mappings:
                return self.mappings[(kind, normalized(value))]
        for value in (point.sdp_name, point.title):
            if value and normalized(value) in self.meters:
                return self.meters[normalized(value)]
        return None
