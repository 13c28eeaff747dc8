"""The usage store's signal: who else learns that new readings arrived.

* ``usage_loaded(sender, batch_id, meter_ids)``: sent by ``usage_ingest_file`` inside the load's
  transaction when a file inserted or changed meter-days; ``meter_ids`` the meters it touched. Receivers
  that do work (Green Button Connect My Data's push notifications) do it with ``transaction.on_commit``.
  Ids only, never readings.
"""

from __future__ import annotations

from django.dispatch import Signal

usage_loaded = Signal()
