"""The Red Flags of the program (seed 002) and the FTC's CRA category, as plain data.

Each entry: stable code, category, title, the seed's wording, where it is detected, and the first
version's weight / minimum outcome / parameters. ``services.catalogue_sync`` creates any missing rule
with an active version 1 after every migrate; it never changes an existing version (versions are
immutable, changes go through the rule lifecycle).

Default thresholds (ProgramSettings): warn at 40, hold at 70. Weights are chosen so that
- one document problem (A) or a known-fraud match (B3) queues the account;
- a shared SSN (B5) always holds the opening (minimum outcome "hold");
- a shared address or phone (B6), typical of a household, only records (15 < 40).
"""

from __future__ import annotations

RECORD, WARN, HOLD = "record", "warn", "hold"

CATALOGUE: list[dict] = [
    # A. Suspicious documents: recorded on the identity-verification checklist at opening.
    {
        "code": "A1_FORGED_ID",
        "category": "A",
        "title": "Identification appears forged or altered",
        "wording": "Receiving documents provided for identification that appears to be forged or altered",
        "detects_on": "opening checklist",
        "weight": 50,
        "minimum_outcome": HOLD,
    },
    {
        "code": "A2_PHOTO_MISMATCH",
        "category": "A",
        "title": "Photo or description does not match the person",
        "wording": (
            "A customer's photograph or physical description on an identification is not consistent with the person "
            "presenting the documentation"
        ),
        "detects_on": "opening checklist",
        "weight": 50,
        "minimum_outcome": HOLD,
    },
    {
        "code": "A3_DOCUMENTS_INCONSISTENT",
        "category": "A",
        "title": "Other documentation inconsistent with customer information",
        "wording": (
            "Receiving other documentation with information that is not consistent with existing customer information,"
            " such as a signature or recent check"
        ),
        "detects_on": "opening checklist",
        "weight": 40,
        "minimum_outcome": WARN,
    },
    {
        "code": "A4_APPLICATION_ALTERED",
        "category": "A",
        "title": "Application altered, forged or reassembled",
        "wording": (
            "Receiving an application for service that appears to have been altered or forged, or gives the appearance"
            " of being destroyed and reassembled"
        ),
        "detects_on": "opening checklist",
        "weight": 50,
        "minimum_outcome": WARN,
    },
    # B. Suspicious identifying information.
    # Detection at opening, steps (1)-(3): an opening that does not record how identity was verified.
    {
        "code": "V1_IDENTITY_NOT_VERIFIED",
        "category": "B",
        "title": "Identity not verified at opening",
        "wording": (
            "Obtain and verify the identity of the person opening the Account: requiring identifying information, "
            "verifying the customer's identity (copying and reviewing a driver's license or other identification "
            "card), reviewing documentation showing the existence of a business entity"
        ),
        "detects_on": "opening: no checklist, no identification reviewed, no document type recorded as seen",
        "weight": 70,
        "minimum_outcome": HOLD,
    },
    {
        "code": "B1_INCONSISTENT_WITH_SOURCES",
        "category": "B",
        "title": "Inconsistent with other sources",
        "wording": "A customer's identifying information is inconsistent with other sources of identifying information",
        "detects_on": "opening checklist; CRA address discrepancy",
        "weight": 40,
        "minimum_outcome": WARN,
    },
    {
        "code": "B2_INCONSISTENT_WITH_APPLICANT",
        "category": "B",
        "title": "Inconsistent with what the customer provides",
        "wording": (
            "A customer's identifying information is inconsistent with other information the customer provides (such "
            "as inconsistent SSNs or birth dates)"
        ),
        "detects_on": "opening checklist (stated SSN last 4 / birth date, SSN issued before birth)",
        "weight": 45,
        "minimum_outcome": WARN,
    },
    {
        "code": "B3_KNOWN_FRAUD",
        "category": "B",
        "title": "Same as on applications found to be fraudulent",
        "wording": (
            "A customer's identifying information is the same as shown on other applications found to be fraudulent"
        ),
        "detects_on": "opening; identifier, address, phone, email changes (fraud list by blind index)",
        "weight": 70,
        "minimum_outcome": HOLD,
    },
    {
        "code": "B4_CONSISTENT_WITH_FRAUD",
        "category": "B",
        "title": "Invalid phone or fictitious address",
        "wording": (
            "A customer's identifying information is consistent with fraudulent activity (such as an invalid phone "
            "number or fictitious billing address)"
        ),
        "detects_on": "opening; address and phone changes",
        "weight": 40,
        "minimum_outcome": WARN,
    },
    {
        "code": "B5_SSN_SHARED",
        "category": "B",
        "title": "SSN the same as another customer's",
        "wording": "A customer's SSN is the same as another customer's SSN",
        "detects_on": (
            "opening; SSN/TIN changes (blind index, candidates confirmed); shared SSN/TIN scan after a bulk import"
        ),
        "weight": 80,
        "minimum_outcome": HOLD,
    },
    {
        "code": "B9_LICENCE_SHARED",
        "category": "B",
        "title": "Driver's licence the same as another customer's",
        "wording": (
            "A customer's driver's license or other identification number is the same as another customer's "
            "(treated like a shared SSN: identifying information the program requires, issue 11)"
        ),
        "detects_on": "opening; licence changes (blind index narrowed by issuing state, candidates confirmed)",
        "weight": 80,
        "minimum_outcome": HOLD,
    },
    {
        "code": "B6_ADDRESS_OR_PHONE_SHARED",
        "category": "B",
        "title": "Address or phone the same as another person's",
        "wording": "A customer's address or phone number is the same as that of another person",
        "detects_on": "opening; address and phone changes",
        "weight": 15,
        "minimum_outcome": RECORD,
    },
    {
        "code": "B7_INCOMPLETE_AFTER_REMINDER",
        "category": "B",
        "title": "Incomplete identifying information after a reminder",
        "wording": (
            "A customer fails to provide complete personal identifying information on an application when reminded to "
            "do so"
        ),
        "detects_on": "opening checklist",
        "weight": 40,
        "minimum_outcome": WARN,
    },
    {
        "code": "B8_INCONSISTENT_WITH_FILE",
        "category": "B",
        "title": "Not consistent with what is on file",
        "wording": (
            "A customer's identifying information is not consistent with the information that is on file for the "
            "customer"
        ),
        "detects_on": "opening checklist; repeated failed caller verification",
        "weight": 45,
        "minimum_outcome": WARN,
    },
    # C. Unusual use of, or suspicious activity related to, a covered account.
    {
        "code": "C1_CHANGE_AFTER_ADDRESS_CHANGE",
        "category": "C",
        "title": "Name change or added party shortly after an address change",
        "wording": (
            "A request to change the Account holder's name or add other parties is received shortly after a change of "
            "address for an Account"
        ),
        "detects_on": "name change; authorized party added",
        "weight": 45,
        "minimum_outcome": WARN,
        "parameters": {"window_days": 30},
    },
    {
        "code": "C2_NEW_ACCOUNT_PAYMENT_PATTERN",
        "category": "C",
        "title": "New account: first payment missed, or only the initial payment",
        "wording": (
            "A new Account is used in a manner consistent with fraud (such as the customer failing to make the first "
            "payment, or making the initial payment and no other payments)"
        ),
        "detects_on": "bills and payments; daily sweep",
        "weight": 40,
        "minimum_outcome": WARN,
        "parameters": {"new_account_days": 120},
    },
    {
        "code": "C3_LATE_AFTER_TIMELY",
        "category": "C",
        "title": "Late or no payments on a historically timely account",
        "wording": (
            "An Account being used in a way that is not consistent with prior use (such as late or no payments when "
            "the Account has been timely in the past)"
        ),
        "detects_on": "bills and payments; daily sweep",
        "weight": 20,
        "minimum_outcome": RECORD,
        "parameters": {"timely_bills": 6},
    },
    {
        "code": "C4_MAIL_RETURNED_REPEATEDLY",
        "category": "C",
        "title": "Mail repeatedly returned as undeliverable",
        "wording": "Mail sent to the Account holder is repeatedly returned as undeliverable",
        "detects_on": "returned mail",
        "weight": 40,
        "minimum_outcome": WARN,
        "parameters": {"count": 2, "window_days": 90},
    },
    {
        "code": "C5_STATEMENTS_NOT_RECEIVED",
        "category": "C",
        "title": "Notice that paper statements are not arriving",
        "wording": "The Utility receives notice that a customer is not receiving paper statements",
        "detects_on": "statement-not-received notice",
        "weight": 40,
        "minimum_outcome": WARN,
    },
    {
        "code": "C6_UNAUTHORIZED_ACTIVITY_NOTICE",
        "category": "C",
        "title": "Notice of unauthorized activity on an account",
        "wording": "The Utility receives notice that an Account has unauthorized activity",
        "detects_on": "security incident (unauthorized activity)",
        "weight": 60,
        "minimum_outcome": WARN,
    },
    {
        "code": "C7_SYSTEM_BREACH",
        "category": "C",
        "title": "The co-op's computer system is breached",
        "wording": "The Utility's computer system is breached",
        "detects_on": "security incident (breach), for every affected account",
        "weight": 50,
        "minimum_outcome": WARN,
    },
    {
        "code": "C8_UNAUTHORIZED_ACCESS",
        "category": "C",
        "title": "Unauthorized access to or use of account information",
        "wording": "Unauthorized access to or use of customer Account information",
        "detects_on": "security incident (unauthorized access)",
        "weight": 60,
        "minimum_outcome": WARN,
    },
    # D. Notices.
    {
        "code": "D1_IDENTITY_THEFT_NOTICE",
        "category": "D",
        "title": "Notice of possible identity theft",
        "wording": (
            "The Utility receives notice from a customer, a victim of identity theft, law enforcement authority or any"
            " other person regarding possible identity theft in connection with a Covered Account"
        ),
        "detects_on": "notice; later openings by the same member",
        "weight": 70,
        "minimum_outcome": HOLD,
        "parameters": {"window_days": 365},
    },
    # FTC Supplement A, category 1: alerts from consumer reporting agencies (not in the program).
    {
        "code": "CRA1_FRAUD_OR_ACTIVE_DUTY_ALERT",
        "category": "E",
        "title": "Fraud or active-duty alert on a consumer report",
        "wording": "A fraud or active duty alert is included with a consumer report",
        "detects_on": "CRA alert (staff or API); openings within the window",
        "weight": 60,
        "minimum_outcome": HOLD,
        "parameters": {"window_days": 365},
    },
    {
        "code": "CRA2_CREDIT_FREEZE",
        "category": "E",
        "title": "Credit freeze",
        "wording": (
            "A consumer reporting agency provides a notice of credit freeze in response to a request for a consumer "
            "report"
        ),
        "detects_on": "CRA alert (staff or API); openings within the window",
        "weight": 40,
        "minimum_outcome": WARN,
        "parameters": {"window_days": 365},
    },
    {
        "code": "CRA3_ADDRESS_DISCREPANCY",
        "category": "E",
        "title": "Notice of address discrepancy",
        "wording": "A consumer reporting agency provides a notice of address discrepancy",
        "detects_on": "CRA alert (staff or API); openings within the window",
        "weight": 40,
        "minimum_outcome": WARN,
        "parameters": {"window_days": 365},
    },
    {
        "code": "CRA4_INCONSISTENT_REPORT_PATTERN",
        "category": "E",
        "title": "Report pattern inconsistent with history",
        "wording": (
            "A consumer report indicates a pattern of activity that is inconsistent with the history and usual pattern"
            " of activity of an applicant or customer"
        ),
        "detects_on": "CRA alert (staff or API); openings within the window",
        "weight": 40,
        "minimum_outcome": WARN,
        "parameters": {"window_days": 365},
    },
]

CODES = [entry["code"] for entry in CATALOGUE]
