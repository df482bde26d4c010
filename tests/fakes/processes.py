"""Real `rutradar serve` processes for tests, and a fake Slack that can hold one reply.

:class:`Server` starts `.venv/bin/rutradar serve` as an asyncio subprocess on a free loopback
port, with its output in files; :func:`race` waits for something while failing the test, with
the server's log, if a server exits first. :class:`HoldingSlackAPI` accepts and records the
n-th call to a method like any other but holds its reply until the test releases it: "the
platform accepted the message, the process died before it heard back".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp
import pytest

from tests.fakes.slack_api import Call, FakeSlackAPI

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
RUTRADAR = Path(sys.executable).parent / "rutradar"
STARTUP_SECONDS = 30.0
STOP_SECONDS = 20.0
# Settings the servers get only from the test: nothing from the developer's shell leaks in.
OWN_PREFIXES = ("RUTRADAR_", "SLACK_", "MICROSOFT_")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(settings: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    env["RUTRADAR_HOST"] = "127.0.0.1"
    env.update(settings)
    return env


def _open_logs(folder: Path) -> tuple[IO[bytes], IO[bytes]]:
    folder.mkdir(parents=True, exist_ok=True)
    return (folder / "stdout.log").open("wb"), (folder / "stderr.log").open("wb")


@dataclass
class Server:
    """One `rutradar serve` process."""

    name: str
    proc: asyncio.subprocess.Process
    port: int
    folder: Path

    @classmethod
    async def start(cls, name: str, settings: Mapping[str, str], folder: Path) -> Server:
        if not RUTRADAR.exists():
            pytest.skip(f"{RUTRADAR} is missing: install the project into this venv first")
        port = free_port()
        env = serve_env({**settings, "RUTRADAR_PORT": str(port)})
        out, err = _open_logs(folder)
        try:
            proc = await asyncio.create_subprocess_exec(
                str(RUTRADAR),
                "serve",
                env=env,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
            )
        finally:
            out.close()
            err.close()
        return cls(name, proc, port, folder)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    def log(self) -> str:
        parts = []
        for stream in ("stdout", "stderr"):
            path = self.folder / f"{stream}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {self.name} {stream} ---\n{text[-4000:]}")
        return "\n".join(parts)

    def fail(self, why: str) -> None:
        pytest.fail(f"rutradar serve ({self.name}) {why}; its output:\n{self.log()}")

    async def wait_ready(self) -> None:
        """Until the server announces itself (it prints the line once its socket is bound
        and start-up ran), then one /readyz check. No polling, no sleeping."""
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(STARTUP_SECONDS):
                while True:
                    line = await self.proc.stdout.readline()
                    if not line:
                        self.fail(f"exited with {await self.proc.wait()} before announcing itself")
                    with (self.folder / "stdout.log").open("ab") as kept:
                        kept.write(line)
                    if b"listening" in line:
                        break
        except TimeoutError:
            self.fail("did not announce itself in time")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.base}readyz", timeout=aiohttp.ClientTimeout(total=10)) as res,
        ):
            if res.status != 200:
                self.fail(f"answered /readyz with {res.status} after announcing itself")

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, leases and `sending` rows stay as they are."""
        self.proc.kill()
        await self.proc.wait()

    async def terminate(self) -> int:
        """SIGTERM and wait for the graceful exit; returns the exit code."""
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_SECONDS):
                return await self.proc.wait()
        except TimeoutError:
            await self.kill()
            self.fail(f"did not exit within {STOP_SECONDS}s of SIGTERM")
            raise  # pragma: no cover - pytest.fail raises

    async def ensure_stopped(self) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


@contextlib.asynccontextmanager
async def serving(name: str, settings: Mapping[str, str], folder: Path) -> AsyncIterator[Server]:
    """A started server, killed on the way out if the test has not stopped it."""
    server = await Server.start(name, settings, folder)
    try:
        yield server
    finally:
        await server.ensure_stopped()


async def race(awaitable: Awaitable[T], *servers: Server) -> T:
    """Await `awaitable`, failing at once (with the log) if one of `servers` exits first."""
    work: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    exits: list[asyncio.Future[Any]] = [asyncio.ensure_future(s.proc.wait()) for s in servers]
    try:
        await asyncio.wait([work, *exits], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in exits:
            waiter.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    gone = next(s for s in servers if not s.running)
    gone.fail(f"exited with {gone.proc.returncode} while the test was waiting")
    raise AssertionError("unreachable")  # pragma: no cover - fail raises


class HoldingSlackAPI(FakeSlackAPI):
    """The fake Slack, but the `nth` call to `method` (see :meth:`hold_reply`) is answered and
    recorded as usual (its effects, e.g. the posted message, are in place) while the HTTP
    reply waits for :meth:`release`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hold: tuple[str, int] | None = None
        self._counted = 0
        self._released = asyncio.Event()
        self.held: Call | None = None

    def hold_reply(self, method: str, nth: int) -> None:
        self._hold = (method, nth)

    def release(self) -> None:
        self._released.set()

    # The timeout is a safety net that fails the test, not a way to pace it.
    async def wait_until(
        self,
        predicate: Callable[[], bool],
        what: str,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> None:
        """Wait, on the fake's own arrival condition, until `predicate()` holds."""
        async with self._arrived:
            try:
                async with asyncio.timeout(timeout):
                    await self._arrived.wait_for(predicate)
            except TimeoutError:
                seen = [c.method for c in self.calls]
                raise AssertionError(
                    f"FakeSlackAPI: {what} did not happen within {timeout}s; all calls: {seen}"
                ) from None

    async def _record(self, call: Call) -> None:
        await super()._record(call)
        if self._hold is None or call.method != self._hold[0]:
            return
        self._counted += 1
        if self._counted == self._hold[1]:
            self.held = call
            await self._released.wait()

    async def close(self) -> None:
        self.release()  # a held handler would otherwise keep the runner's cleanup waiting
        await super().close()
