"""Closed-loop HTTP load with `wrk`, every request distinct and validly signed.

The requests are generated beforehand (Python signs them: a Slack signature over each body with
a fresh timestamp, a Bot Framework JWT from the fake identity) and written to a file, one per
line; `wrk.lua` formats them once at start and sends them in order, one connection after
another taking the next, so no request repeats unless the run outlasts the file (the report
says how often it wrapped, and a run that wrapped is flagged).

`wrk` is Debian's package: installed with apt-get when missing and permitted, otherwise the
request benchmarks are skipped with a message saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

LUA = Path(__file__).with_name("wrk.lua")
CONNECTIONS = 50
# Requests written for a turn: this many times what the load's fastest turn so far answered
# in as long (the machine's speed moves by up to 2x within a minute), never fewer than
# MIN_REQUESTS nor more than the load's own ceiling, which the first turn gets. Signing them
# is the benchmark's own work, done while the servers idle: on a slow machine writing every
# turn's ceiling took minutes of `make bench` (16,000 check-in submissions: 3.6 s each time).
# A warm-up's rate is not used: it includes the server's cold start, and a turn sized by
# one outlasted its requests (twice the warm-up's rate, and more).
HEADROOM = 3.0
MIN_REQUESTS = 2_000
WRK_TIMEOUT = "10s"  # a slow answer is a latency, not a socket error


class Unavailable(RuntimeError):
    """wrk is missing and cannot be installed here."""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print(
            "wrk is not installed: installing Debian's package (apt-get install wrk)…", flush=True
        )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        result = subprocess.run(
            [apt, "install", "-y", "-q", "wrk"], env=env, capture_output=True, text=True
        )
        if result.returncode != 0:
            subprocess.run([apt, "update", "-q"], env=env, capture_output=True)
            subprocess.run([apt, "install", "-y", "-q", "wrk"], env=env, capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise Unavailable(
        "wrk is not installed and could not be installed (needs root and Debian's apt-get: "
        "`apt-get install wrk`)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Request:
    headers: Mapping[str, str]
    body: bytes


@dataclass
class LoadResult:
    label: str
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    wraps: int
    cpu_ms_per_request: float = float("nan")  # the server's CPU time per answered request
    sent: int = 0  # requests wrk started (the answered ones, and those in flight at the end)
    matched: int = -1  # answers whose body held `expect` (-1: not checked)
    # wrk's latency histogram: microseconds → requests that took them (`combined` pools it)
    histogram: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ratio_to(self, baseline: LoadResult) -> float:
        """This run's rate in units of a baseline's, measured in the same benchmark run."""
        return self.rate / baseline.rate if baseline.rate else 0.0

    def cells(self, ratio: str) -> list[object]:
        """This run's cells under `LOAD_COLUMNS`, with the ratio as the report shows it."""
        return [
            self.requests,
            round(self.rate, 1),
            ratio,
            round(self.p50_ms, 1),
            round(self.p99_ms, 1),
            self.non_2xx + self.socket_errors,
            round(self.cpu_ms_per_request, 2),
        ]


# The columns of a measured run in the request rows' reports (`LoadResult.cells`).
LOAD_COLUMNS = ["requests", "per s", "ratio", "p50 ms", "p99 ms", "errors", "cpu ms/req"]


def write_requests(path: Path, requests: Sequence[Request]) -> None:
    """Header names on the first line; then per request its header values and the body,
    tab-separated (bodies are form-encoded or compact JSON: neither holds a tab or newline)."""
    names = list(requests[0].headers)
    with path.open("w", encoding="utf-8") as out:
        out.write("\t".join(names) + "\n")
        for request in requests:
            body = request.body.decode()
            if "\t" in body or "\n" in body:
                raise ValueError("a request body with a tab or a newline cannot be replayed")
            out.write("\t".join([*(request.headers[n] for n in names), body]) + "\n")


async def run_wrk(
    label: str,
    url: str,
    requests: Sequence[Request],
    *,
    seconds: float,
    connections: int = CONNECTIONS,
    profile_pid: int | None = None,
    expect: str | None = None,
) -> LoadResult:
    """`profile_pid` with BENCH_PROFILE=<folder> set: py-spy records that process during the
    run, collapsed stacks into <folder>/<label>.txt (how docs/benchmarks.md's profiles were
    taken). `expect`: count the answers whose body contains it (`LoadResult.matched`)."""
    wrk = ensure_wrk()
    spy = None
    folder = os.environ.get("BENCH_PROFILE")
    if folder and profile_pid is not None:
        os.makedirs(folder, exist_ok=True)
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(profile_pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(Path(folder) / f"{label.replace(' ', '_')}.txt"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    with tempfile.TemporaryDirectory(prefix="rutradar-wrk-") as folder, _frozen_heap():
        data = Path(folder) / "requests.tsv"
        await asyncio.to_thread(write_requests, data, requests)
        path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
        proc = await asyncio.create_subprocess_exec(
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={WRK_TIMEOUT}",
            "-s",
            str(LUA),
            url,
            "--",
            path,
            str(data),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "BENCH_EXPECT": expect or ""},
        )
        out, err = await proc.communicate()
    if spy is not None:
        await spy.wait()
    line = next((x for x in out.decode().splitlines() if x.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()[-500:]}")
    raw = json.loads(line[6:])
    return LoadResult(
        label=label,
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        non_2xx=raw["status_errors"],
        socket_errors=raw["socket_errors"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        wraps=raw["wraps"],
        sent=raw["sent"],
        matched=raw["matched"],
        histogram={int(value): int(count) for value, count in raw.get("hist", [])},
    )


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """The harness process serves the fakes (Slack Web API, Bot Connector) during a run. What
    it holds already (the generated requests, the fakes' records) is frozen out of the garbage
    collector meanwhile: a full collection of it stalled the fakes for up to 200 ms, and
    every server waiting on them (product and baseline alike) with them."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    started_in: float  # seconds from spawn to the first 200 on the readiness path
    log: Path

    def rss_mb(self, field: str = "VmRSS") -> float:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def peak_rss_mb(self) -> float:
        return self.rss_mb("VmHWM")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (its threads included)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def start_server(
    argv: Sequence[str],
    env: Mapping[str, str],
    port: int,
    *,
    ready_path: str,
    log_dir: Path,
    name: str,
    within: float = 30.0,
) -> Server:
    """Spawn and poll `ready_path` until it answers 200 (a POST-only path: anything but a
    refused connection, e.g. 405)."""
    log = log_dir / f"{name}.log"
    begun = time.perf_counter()
    proc = _spawn(argv, env, log)
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}): {log.read_text()[-800:]}")
            try:
                async with http.get(url + ready_path) as response:
                    if response.status == 200 or (ready_path != "/readyz" and response.status):
                        break
            except aiohttp.ClientError:
                pass
            if time.perf_counter() - begun > within:
                proc.kill()
                raise RuntimeError(f"{name} not ready within {within:.0f} s")
            await asyncio.sleep(0.02)
    return Server(proc, url, time.perf_counter() - begun, log)


def _spawn(argv: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            list(argv), env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT
        )


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


def rutradar_argv(port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("rutradar")), "serve", "--port", str(port)]


# --- interleaved runs ----------------------------------------------------------------------------


@dataclass
class Load:
    """One kind of request against one server, measured in turns by `interleaved`.

    `make(first, count)` builds `count` distinct requests, the `first` ones already used by
    this load's earlier runs (a submission is sent once per person, never again)."""

    label: str
    server: Server
    make: Callable[[int, int], list[Request]]
    requests: int  # per run at most (`count_for`): more than the server answers in one
    path: str = "/slack/events"
    expect: str | None = None
    runs: list[LoadResult] = field(default_factory=list)  # warm-ups and turns, in order
    turns: list[LoadResult] = field(default_factory=list)

    @property
    def used(self) -> int:
        return sum(run.sent for run in self.runs)

    def count_for(self, seconds: float) -> int:
        """How many requests a run of `seconds` gets written (`HEADROOM` says why): the
        ceiling until a turn has shown how fast the server answers."""
        fastest = max((turn.rate for turn in self.turns), default=0.0)
        if fastest <= 0:
            return self.requests
        return min(self.requests, max(MIN_REQUESTS, math.ceil(fastest * seconds * HEADROOM)))

    async def run(
        self, seconds: float, *, part: str = "", profile: bool = False, count: int = 0
    ) -> LoadResult:
        cpu = self.server.cpu_seconds()
        result = await run_wrk(
            self.label + part,
            self.server.url + self.path,
            self.make(self.used, count or self.count_for(seconds)),
            seconds=seconds,
            profile_pid=self.server.proc.pid if profile else None,
            expect=self.expect,
        )
        result.cpu_ms_per_request = (
            (self.server.cpu_seconds() - cpu) * 1000 / max(1, result.requests)
        )
        self.runs.append(result)
        return result

    async def warm_up(self, seconds: float, count: int = 0) -> None:
        """A run before the turns, `count` requests (the turns' number when 0)."""
        warm = await self.run(seconds, part=" warm-up", count=count)
        if warm.wraps:
            raise RuntimeError(f"{self.label}: the warm-up outlasted its requests")

    def result(self) -> LoadResult:
        return combined(self.label, self.turns)


async def interleaved(loads: Sequence[Load], *, rounds: int, seconds: float) -> None:
    """Measures every load `rounds` times for `seconds`, in turns: forwards, then backwards
    (A B C C B A …), every server idle before each turn starts.

    On this machine kind the CPU one request costs moves by up to 2× within a minute (other
    tenants): a baseline measured once, before the product's rows, made a ratio move from 0.6
    to 0.9 between runs of the same code. Turns that mirror each other put a baseline and the
    product at the same mean time, so a drift in the machine's speed moves both sides alike.
    Waiting for quiet keeps one server's leftover work (the product's outbox sending "checked
    in" edits after its submissions) out of the next server's turn."""
    servers = list({id(load.server): load.server for load in loads}.values())
    for n in range(rounds):
        order = loads if n % 2 == 0 else list(reversed(loads))
        for load in order:
            await quiet(servers)
            load.turns.append(await load.run(seconds, part=f" {n + 1}", profile=True))


# A server is quiet below this share of a core. The product's outbox goes on sending the
# "checked in" edits of a turn's submissions at the workspace's rate (5 a second) for minutes
# after it: 2-3 % of a core on a slow machine, which under a bound of 2 % kept every later
# turn waiting its full `within` (50 s of a check-in run per database) for a trickle that
# was still there when it started.
QUIET_SHARE = 0.05


async def quiet(servers: Sequence[Server], *, within: float = 10.0) -> None:
    """Returns once the servers used less than `QUIET_SHARE` of a core over 200 ms (or after
    `within` seconds, then the next turn starts on a busy machine, as the report's CPU column
    shows)."""
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        before = sum(server.cpu_seconds() for server in servers)
        await asyncio.sleep(0.2)
        if sum(server.cpu_seconds() for server in servers) - before < 0.2 * QUIET_SHARE:
            return


def combined(label: str, turns: Sequence[LoadResult]) -> LoadResult:
    """A load's turns as one run: requests, time, errors and CPU summed; the percentiles
    those of all the turns' requests together, from wrk's latency histograms pooled. Without
    a histogram (a turn that answered nothing), the worst turn's p50, p90 and p99: never
    better than the requests were."""
    if not turns:
        raise ValueError(f"{label}: no turns measured")
    count = sum(s.requests for s in turns)
    pooled: Counter[int] = Counter()
    for turn in turns:
        pooled.update(turn.histogram)

    def pct(p: float, worst: Callable[[LoadResult], float]) -> float:
        if all(turn.histogram for turn in turns):
            return percentile(pooled, p) / 1000
        return max(worst(turn) for turn in turns)

    cpu = sum(s.cpu_ms_per_request * s.requests for s in turns)
    return LoadResult(
        label=label,
        requests=count,
        seconds=sum(s.seconds for s in turns),
        non_2xx=sum(s.non_2xx for s in turns),
        socket_errors=sum(s.socket_errors for s in turns),
        p50_ms=pct(50, lambda s: s.p50_ms),
        p90_ms=pct(90, lambda s: s.p90_ms),
        p99_ms=pct(99, lambda s: s.p99_ms),
        max_ms=max(s.max_ms for s in turns),
        wraps=sum(s.wraps for s in turns),
        cpu_ms_per_request=cpu / max(1, count),
        sent=sum(s.sent for s in turns),
        matched=-1 if any(s.matched < 0 for s in turns) else sum(s.matched for s in turns),
        histogram=dict(pooled),
    )


def percentile(histogram: Mapping[int, int], p: float) -> int:
    """The nearest-rank `p`th percentile of a latency histogram (value → count): the
    smallest value at or below which at least `p` % of the requests lie."""
    total = sum(histogram.values())
    if total == 0:
        raise ValueError("an empty histogram has no percentiles")
    rank = max(1, math.ceil(p / 100 * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)


def settled(results: Iterable[LoadResult]) -> bool:
    return all(r.wraps == 0 for r in results)
