"""Locust users for ``config/soak.py``: mixed traffic at a fixed pace per user (portal pages, staff pages,
the API, usage ingest, changes that Red Flags scores in the worker, and exports). The plan (sessions,
tokens, ids, an ingest template) comes from the file named by ``SOAK_PLAN``.
"""

from __future__ import annotations

import json
import os
import random

# Locust runs this file with its own folder first on sys.path (config/, not the project), so the pacing
# module is imported by its own name: importing the config package would start Celery's app here.
from load_pacing import PacedUser, Pacing  # type: ignore[import-not-found]
from locust import HttpUser, task

with open(os.environ["SOAK_PLAN"], encoding="utf-8") as _handle:
    PLAN = json.load(_handle)
_MONTH_DAY = PLAN["month_day"]


class Mixed(PacedUser, HttpUser):
    pacing = Pacing.from_environment()

    def on_start(self) -> None:
        self.rng = random.Random(id(self))  # noqa: S311 - choosing requests, not secrets
        self.start_pacing()

    def _expect(self, name: str, response, *ok: int) -> None:
        if response.status_code not in ok:
            response.failure(f"{name}: status {response.status_code}")

    def _get(self, name: str, path: str, cookie: str = "", token: str = "") -> None:
        headers = {"Cookie": cookie} if cookie else {"Authorization": f"Token {token}"}
        with self.client.get(path, name=name, headers=headers, catch_response=True, allow_redirects=False) as reply:
            self._expect(name, reply, 200)

    @task(3)
    def portal(self) -> None:
        member = self.rng.choice(PLAN["members"])
        path = self.rng.choice(["/portal/", f"/portal/accounts/{self.rng.choice(member['account_numbers'])}/"])
        self._get("portal", path, cookie=member["cookie"])

    @task(3)
    def api_usage(self) -> None:
        member = self.rng.choice(PLAN["members"])
        path = f"/api/usage/accounts/{self.rng.choice(member['accounts'])}/?period=month&day={_MONTH_DAY}"
        self._get("api_usage", path, cookie=member["cookie"])

    @task(2)
    def staff(self) -> None:
        if self.rng.random() < 0.5:
            term = self.rng.choice(["Load Member", "LOADM0001", "Member 4"])
            self._get("staff_search", f"/admin/members/member/?q={term}", cookie=PLAN["csr_cookie"])
        else:
            self._get("staff_api", "/api/members/?limit=20", token=PLAN["csr_token"])

    @task(1)
    def export(self) -> None:
        member = self.rng.choice(PLAN["members"])
        account = self.rng.choice(member["accounts"])
        kind = self.rng.choice(["intervals.csv", "greenbutton.xml"])
        path = f"/api/usage/accounts/{account}/{kind}?first_day={PLAN['first_day']}&last_day={PLAN['export_last_day']}"
        self._get("export", path, cookie=member["cookie"])

    @task(1)
    def ingest(self) -> None:
        header, *rows = PLAN["ingest_template"]
        body = header + "\n" + "".join(row.replace("{v}", str(self.rng.randint(50, 900))) + "\n" for row in rows)
        files = {"file": ("soak.csv", body.encode(), "text/csv")}
        headers = {"Authorization": f"Token {PLAN['ingest_token']}"}
        with self.client.post(
            "/api/usage/ingest/", name="ingest", files=files, headers=headers, catch_response=True
        ) as reply:
            self._expect("ingest", reply, 200, 201)

    @task(1)
    def change_scored(self) -> None:
        member_id = self.rng.choice(PLAN["member_ids"])
        body = {
            "legal_name": f"Load Member {member_id} {self.rng.randint(1, 9)}",
            "reason": "soak test",
            "acknowledgement": "soak test: synthetic member",
        }
        headers = {"Authorization": f"Token {PLAN['csr_token']}"}
        with self.client.patch(
            f"/api/members/{member_id}/", json=body, name="change_scored", headers=headers, catch_response=True
        ) as reply:
            self._expect("change_scored", reply, 200)
