"""Green Button RetailCustomer (NAESB REQ.21 ESPI 3.3, namespace ``http://naesb.org/espi/customer``): the
writer and its schema.

ESPI keeps personally identifiable information out of usage feeds: the member's name, mailing address,
phone and e-mail (Customer), account number (CustomerAccount), service agreement (CustomerAgreement) and
service address (ServiceLocation) are a feed of their own, never in the same message as usage. This module
only writes what it is handed; what may be handed to it (the Connect My Data authorization's accounts and
the contact category's fields, never an SSN, a date of birth or a premise's gate code or dog warning) is
decided and logged by the disclosures export gate (``disclosure_export(format="espi_cust")``).

Resources written, one Atom entry each, ids stable per subscription: ``Customer/1`` (the member), and per
authorized account ``CustomerAccount/{account id}``, its ``CustomerAgreement/{account id}`` and its
``ServiceLocation/{account id}`` (the premise's service address), under
``/espi/1_1/resource/RetailCustomer/{subscription}/...`` as ESPI names them.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from xml.sax.saxutils import escape

from lxml import etree

from accounts.usage.espi import ATOM_NS, SCHEMA_DIR, _atom_time, _entry

CUSTOMER_NS = "http://naesb.org/espi/customer"


@lru_cache(maxsize=1)
def espi_customer_schema() -> etree.XMLSchema:
    """The ESPI RetailCustomer schema (it imports Atom), parsed once per process."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "retailcustomer.xsd")))


def espi_customer_validate(document: bytes) -> list[str]:
    """Schema errors of a RetailCustomer document (empty when valid)."""
    tree = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))
    schema = espi_customer_schema()
    if schema.validate(tree):
        return []
    return [f"line {error.line}: {error.message}" for error in schema.error_log]


@dataclass(frozen=True)
class CustomerView:
    """Which RetailCustomer resource is asked for: ``subscription`` (the authorization id the URLs carry),
    ``self_href`` (the feed's own URL); ``kind`` / ``resource_id``: only that entry, as the document."""

    subscription: str
    self_href: str
    kind: str | None = None  # Customer, CustomerAccount, CustomerAgreement, ServiceLocation
    resource_id: str | None = None


def _text(value: object, limit: int = 256) -> str:
    return escape(str(value)[:limit])


def _element(name: str, value: object, limit: int = 256) -> str:
    return f"<cust:{name}>{_text(value, limit)}</cust:{name}>" if value not in (None, "") else ""


def _street_address(*, line1: str, line2: str, city: str, state: str, postal_code: str) -> str:
    street = _element("addressGeneral", line1) + _element("addressGeneral2", line2)
    town = _element("name", city) + _element("stateOrProvince", state) + _element("country", "US" if city else "")
    return (
        (f"<cust:streetDetail>{street}</cust:streetDetail>" if street else "")
        + (f"<cust:townDetail>{town}</cust:townDetail>" if town else "")
        + _element("postalCode", postal_code)
    )


def _customer(member: dict) -> str:
    postal = _street_address(
        line1=member.get("mailing_line1") or "",
        line2=member.get("mailing_line2") or "",
        city=member.get("mailing_city") or "",
        state=member.get("mailing_state") or "",
        postal_code=member.get("mailing_postal_code") or "",
    )
    phone = _element("localNumber", member.get("phone")) + _element("ext", member.get("phone_extension"))
    organisation = (
        (f"<cust:postalAddress>{postal}</cust:postalAddress>" if postal else "")
        + (f"<cust:phone1>{phone}</cust:phone1>" if phone else "")
        + (
            f"<cust:electronicAddress>{_element('email1', member.get('email'))}</cust:electronicAddress>"
            if member.get("email")
            else ""
        )
        + _element("organisationName", member.get("legal_name"))
    )
    return (
        f"<cust:Customer><cust:Organisation>{organisation}</cust:Organisation>"
        f"<cust:kind>residential</cust:kind>{_element('customerName', member.get('legal_name'))}</cust:Customer>"
    )


def _customer_account(account: dict) -> str:
    return (
        f"<cust:CustomerAccount><cust:type>electric</cust:type>{_element('accountId', account['account_number'])}"
        "</cust:CustomerAccount>"
    )


def _customer_agreement(account: dict) -> str:
    start = account.get("opened_at")
    validity = (
        f"<cust:validityInterval><cust:start>{int(start.timestamp())}</cust:start></cust:validityInterval>"
        if start is not None
        else ""
    )
    return (
        f"<cust:CustomerAgreement><cust:type>electric service</cust:type>{validity}"
        f"<cust:currency>840</cust:currency>{_element('agreementId', account['account_number'])}"
        "</cust:CustomerAgreement>"
    )


def _service_location(account: dict, usage_point_href: str) -> str:
    address = _street_address(
        line1=account.get("service_line1") or "",
        line2=account.get("service_line2") or "",
        city=account.get("service_city") or "",
        state=account.get("service_state") or "",
        postal_code=account.get("service_postal_code") or "",
    )
    return (
        "<cust:ServiceLocation><cust:type>service address</cust:type>"
        + (f"<cust:mainAddress>{address}</cust:mainAddress>" if address else "")
        + f"<cust:UsagePoints><cust:UsagePoint>{escape(usage_point_href)}</cust:UsagePoint></cust:UsagePoints>"
        + "</cust:ServiceLocation>"
    )


def render_espi_customer(
    *, member: dict | None, accounts: list[dict], base_url: str, now: datetime, view: CustomerView
) -> Generator[bytes, None, None]:
    """The RetailCustomer feed (or the one entry ``view`` asks for) of one member: ``member`` holds the
    contact fields released, ``accounts`` dicts with ``id``, ``account_number``, ``opened_at`` and the
    premise's ``service_*`` address fields. No member (nothing released): an empty feed."""
    if member is None:
        view = CustomerView(subscription=view.subscription, self_href=view.self_href)
    stamp = _atom_time(now)
    feed_id = uuid.uuid4()
    root = f"{base_url}/espi/1_1/resource/RetailCustomer/{view.subscription}"
    customer_href = f"{root}/Customer/1"
    entries: list[tuple[str, str, str, str, str, list[str]]] = []
    if member is not None:
        related = [f"{customer_href}/CustomerAccount"]
        entries.append(("Customer", "1", customer_href, f"{root}/Customer", _customer(member), related))
    for account in accounts:
        key = str(account["id"])
        account_href = f"{customer_href}/CustomerAccount/{key}"
        agreement_href = f"{account_href}/CustomerAgreement/{key}"
        usage_point = (
            f"{base_url}/espi/1_1/resource/Subscription/{view.subscription}/UsagePoint/account-{key}-delivered"
        )
        entries += [
            (
                "CustomerAccount",
                key,
                account_href,
                f"{customer_href}/CustomerAccount",
                _customer_account(account),
                [f"{account_href}/CustomerAgreement"],
            ),
            (
                "CustomerAgreement",
                key,
                agreement_href,
                f"{account_href}/CustomerAgreement",
                _customer_agreement(account),
                [f"{agreement_href}/ServiceLocation"],
            ),
            (
                "ServiceLocation",
                key,
                f"{agreement_href}/ServiceLocation/{key}",
                f"{agreement_href}/ServiceLocation",
                _service_location(account, usage_point),
                [],
            ),
        ]
    single = view.kind is not None
    if single:
        yield b'<?xml version="1.0" encoding="UTF-8"?>\n'
    else:
        yield (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<feed xmlns="{ATOM_NS}" xmlns:cust="{CUSTOMER_NS}">'
            f"<id>urn:uuid:{feed_id}</id><title>Green Button RetailCustomer</title><updated>{stamp}</updated>"
            f'<link rel="self" href="{escape(view.self_href)}" type="espi-feed/RetailCustomer"/>'
        ).encode()
    for kind, key, href, up, content, related in entries:
        if single and (kind != view.kind or key != view.resource_id):
            continue
        entry = _entry(
            entry_id=str(uuid.uuid5(uuid.NAMESPACE_URL, href)),
            self_href=href,
            up_href=up,
            kind=kind,
            title=kind,
            content=content,
            now=stamp,
            related=related,
        )
        if single:
            entry = entry.replace("<entry>", f'<entry xmlns="{ATOM_NS}" xmlns:cust="{CUSTOMER_NS}">', 1)
        yield entry.encode()
        if single:
            return
    if not single:
        yield b"</feed>\n"
