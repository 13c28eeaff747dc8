"""The load harness's arrival process (config/load_pacing.py, config/loadtest.py): requests at a fixed rate
arrive spread over the period, not as bursts, and a Poisson option arrives as a Poisson process.

The harness once spawned ten locust users a tenth of a second apart, each paced at ten per second, so all
ten shared one phase and 100 requests/s arrived as ten at once every 100 ms. The last test here runs real
locust against a real HTTP server and measures the gaps between arrivals: it failed on that code (median
gap 0 ms).
"""

from __future__ import annotations

import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config import loadtest
from config.load_pacing import PacedUser, Pacing


def test_each_user_has_its_own_slot_and_the_slots_divide_the_period_evenly():
    pacing = Pacing(10.0, 10)
    pacing.epoch = time.monotonic() + 60  # every slot still ahead
    moments = [pacing.first()[0] - pacing.epoch for _ in range(10)]
    assert moments == pytest.approx([i * 0.01 for i in range(10)])
    # An eleventh user (more users than slots asked for) shares the first slot again.
    assert pacing.first()[0] - pacing.epoch == pytest.approx(0.0)


def test_a_user_spawned_after_its_slot_starts_at_the_slots_next_occurrence():
    pacing = Pacing(10.0, 4)
    pacing.epoch = time.monotonic() - 0.333
    for number in range(4):
        moment, _ = pacing.first()
        assert moment >= time.monotonic() - 0.001
        offset = (moment - pacing.epoch) % 0.1
        assert offset == pytest.approx(number * 0.025, abs=1e-6) or offset == pytest.approx(0.1, abs=1e-6)


class _User(PacedUser):
    def __init__(self, pacing: Pacing):
        self.pacing = pacing


def test_a_user_keeps_its_schedule_and_sends_missed_requests_at_once_recording_how_late():
    pacing = Pacing(10.0, 1)
    user = _User(pacing)
    user._due, user._rng = time.monotonic(), None  # type: ignore[assignment]
    assert user.wait_time() == pytest.approx(0.1, abs=0.01)  # on time: wait out the period
    user._due = time.monotonic() - 0.35  # an answer took 0.35 s past the request's slot
    assert user.wait_time() == 0.0
    assert pacing.lateness_ms[-1] == pytest.approx(250, abs=15)  # the next slot was 0.25 s ago
    user._due = time.monotonic() - 5.0  # five seconds behind: those requests' time has passed
    assert user.wait_time() == 0.0
    assert pacing.lateness_ms[-1] == 0.0
    assert user.wait_time() == pytest.approx(0.1, abs=0.01)  # and the pace resumes from now


def test_poisson_gaps_have_the_periods_mean_and_vary_as_an_exponential_does():
    pacing = Pacing(10.0, 1, "poisson", seed=7)
    _, rng = pacing.first()
    gaps = [pacing.gap(rng) for _ in range(20_000)]
    assert statistics.fmean(gaps) == pytest.approx(0.1, rel=0.03)
    assert statistics.stdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, rel=0.05)
    assert {Pacing(10.0, 1).gap(rng) for _ in range(5)} == {0.1}


def test_an_unknown_arrival_process_or_rate_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="LOAD_ARRIVALS"):
        Pacing(10.0, 2, "bursts")
    with pytest.raises(ValueError, match="positive rate"):
        Pacing(0.0, 2)
    monkeypatch.setenv("LOAD_ARRIVALS", "bursts")
    with pytest.raises(ValueError, match="LOAD_ARRIVALS"):
        loadtest.arrivals()


def test_the_lateness_is_written_where_the_harness_reads_it(tmp_path):
    pacing = Pacing(10.0, 1)
    pacing.lateness_ms.extend([0.0, 12.5])
    pacing.write_lateness(str(tmp_path / "lateness.json"))
    assert (tmp_path / "lateness.json").read_text() == "[0.0, 12.5]"


class _Recorder(BaseHTTPRequestHandler):
    arrivals: list[float] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).arrivals.append(time.monotonic())
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def recording_server():
    _Recorder.arrivals = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Recorder.arrivals
    server.shutdown()
    server.server_close()


def _gaps_ms(arrivals: list[float]) -> list[float]:
    ordered = sorted(arrivals)
    return [1000 * (later - earlier) for earlier, later in zip(ordered, ordered[1:], strict=False)]


@pytest.mark.parametrize("process", ["even", "poisson"])
def test_locust_at_a_fixed_rate_spreads_the_requests_over_the_period(recording_server, monkeypatch, process):
    port, arrivals = recording_server
    monkeypatch.setenv("LOAD_ARRIVALS", process)
    measured = loadtest.run_at(50.0, 4, port, [{"cookie": "", "paths": ["/page"]}])
    assert measured["errors"] == 0
    assert measured["achieved_rps"] == pytest.approx(50, rel=0.15)
    assert measured["send_lateness_ms_p95"] < 50  # an answer in a millisecond never holds a request back
    gaps = _gaps_ms(arrivals[5:])  # past the spawn
    if process == "even":
        # 50/s from 5 users at 10/s each: a request every 20 ms. In phase, the five came together (median gap
        # 0 ms) and the next five 200 ms later.
        assert statistics.median(gaps) > 10
        assert max(gaps) < 100
    else:
        # A Poisson process: exponential gaps, mean 20 ms, spread as widely as their mean.
        assert statistics.fmean(gaps) == pytest.approx(20, rel=0.3)
        assert statistics.stdev(gaps) / statistics.fmean(gaps) > 0.6
