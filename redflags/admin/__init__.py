"""Staff screens of the Red Flags program in the Django admin, one module per group of models.

- ``review``: the review queue (items, the Respond page), assessments, flags, responses
- ``rules``: rules and rule versions (draft, dry run, activate, retire)
- ``program``: thresholds, training, program changes with the board's decision, the annual review
- ``records``: what staff record (fraud list, CRA alerts, notices, incidents), checklists, caller checks
- ``base``: read-only history and records added through a service

Every write here calls a service; nothing is saved by the admin itself, and history (assessments,
flags, responses) is read-only. Django's admin autodiscovery imports this package; importing the
modules registers their screens.
"""

from redflags.admin import program, records, review, rules  # noqa: F401  (each registers its screens)
