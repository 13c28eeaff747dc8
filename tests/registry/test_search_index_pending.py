"""The search's GIN indexes keep their pending lists small (members migration 0016, accounts 0012): every
scan reads a pending list in full, so a 4 MB list made each name search read 1.7 MB more."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

SEARCH_GIN_INDEXES = ("member_name_trgm_idx", "member_mailing_trgm_idx", "premise_service_trgm_idx")


def test_each_search_gin_index_limits_its_pending_list_to_64_kb():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_am a ON a.oid = c.relam"
            " WHERE a.amname = 'gin' AND c.relname = ANY(%s)",
            [list(SEARCH_GIN_INDEXES)],
        )
        options = dict(cursor.fetchall())
    assert options == {name: ["gin_pending_list_limit=64"] for name in SEARCH_GIN_INDEXES}
