"""100 concurrent streaming chats, two turns each: turn latency, time to first token, lost/duplicated messages.

The API runs in its own process (uvicorn, loopback, the default offline model: no endpoint configured)
on a fresh home (SQLite in it, or ``--database-url``), with the kb_assistant app and its seed documents
indexed. The load tool is this script: ``--clients`` asyncio tasks on **httpx.AsyncClient** (one client
and one API key per simulated user) start together behind a barrier; each sends one streaming chat
(``model: kb_assistant``, ``stream: true``) to a new conversation and, once the first answer has ended,
a second turn in the same conversation. Per turn we time the request start to the first text token
(TTFT) and to the last byte (``data: [DONE]``). Afterwards the database is read: every conversation must
hold exactly its 4 messages (user, assistant, user, assistant): 0 lost, 0 duplicated.

Run: `.venv/bin/python bench/chat_load.py [--clients 100] [--database-url URL] [--json]`.
``--profile FILE``: the server runs cProfile in every thread and counts SQL statements and transactions,
written to FILE when it stops (where a turn spends its CPU under load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST = [  # the kb_assistant seed questions (apps/kb_assistant/commands.py), asked in different words
    "How many days do I have to return an item for a full refund?",
    "Is there a restocking fee for opened electronics?",
    "Can gift cards be exchanged for cash?",
    "Where do I write to start a return?",
    "How long until a refund reaches my original payment method?",
    "Does Moesaic run on a laptop without a GPU?",
    "Which environment variable points Moesaic at an OpenAI-compatible endpoint?",
    "How are API keys stored?",
    "Which file types can I upload to a knowledge base?",
    "What is the extractive answerer?",
]
OPENERS = ["", "Hello! ", "Quick question: ", "Hi, ", "Please tell me: ", "I wonder: ", "Hey. ", "Good morning. ",
           "One more thing: ", "Could you help? "]


def question(client: int, turn: int) -> str:
    return OPENERS[(client // 10 + turn) % len(OPENERS)] + FIRST[(client + 3 * turn) % len(FIRST)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


# the server ---------------------------------------------------------------------------------------
def serve(args: argparse.Namespace) -> None:
    """Child process: build the platform, index the seed, make one key per client, serve until killed."""
    import uvicorn

    from apps.kb_assistant.commands import SEED_DIR
    from apps.kb_assistant.manifest import APP
    from moesaic.access import create_api_key, ensure_tenant
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.services import Platform

    home = Path(args.home)
    settings = Settings(home=home, database_url=args.database_url or f"sqlite:///{home}/moesaic.db", llm_base_url=None)
    platform = Platform.create(settings, apps={APP.name: APP})
    tenant = ensure_tenant(platform.db)
    ids = [platform.knowledge.add_document(tenant, "default", p.name, p.read_bytes()).id for p in sorted(SEED_DIR.iterdir())]
    platform.knowledge.wait(ids, timeout=300)
    platform.warm_up()
    keys = [create_api_key(platform.db, name=f"load-{i}", role="operator") for i in range(args.clients)]
    Path(args.keys_file).write_text(json.dumps(keys))
    profiler = Profiler(platform.db.engine) if args.profile else None
    server = uvicorn.Server(uvicorn.Config(create_app(platform=platform), host="127.0.0.1", port=args.port,
                                           log_level="warning", lifespan="on"))

    def stop(*_: Any) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    server.run()
    if profiler is not None:
        Path(args.profile).write_text(profiler.report())
    platform.close()


class Profiler:
    """cProfile in every thread started from now on (the API's work runs in the thread pool), merged when the
    server stops, plus SQL statements and transactions counted by SQLAlchemy events. cProfile slows Python
    code more than native code (torch, SQLite): read the shares, not the seconds. Times are CPU time
    of each thread (``time.thread_time``), so waiting for a lock or the GIL is not counted."""

    def __init__(self, engine: Any) -> None:
        import cProfile
        import threading

        from sqlalchemy import event

        self.profiles: list[cProfile.Profile] = []
        self.statements: Counter[str] = Counter()
        self.sessions = 0

        def start(*_: Any) -> None:  # the first profile event of a new thread: profile that thread with cProfile
            sys.setprofile(None)
            profile = cProfile.Profile(time.thread_time)  # CPU time of the thread, not waiting
            self.profiles.append(profile)
            profile.enable()

        threading.setprofile(start)
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements[" ".join(statement.split())[:90]] += 1

    def _begin(self, _conn: Any) -> None:
        self.sessions += 1

    def report(self) -> str:
        import io
        import pstats

        out = io.StringIO()
        stats = pstats.Stats(*self.profiles, stream=out) if self.profiles else None
        if stats is not None:
            stats.sort_stats("cumulative").print_stats(60)
            stats.sort_stats("tottime").print_stats(40)
        lines = [f"transactions begun: {self.sessions}; statements: {sum(self.statements.values())}"]
        lines += [f"{n:7d}  {text}" for text, n in self.statements.most_common(40)]
        return out.getvalue() + "\n".join(lines) + "\n"


# the clients --------------------------------------------------------------------------------------
@dataclass
class TurnResult:
    latency: float = 0.0
    ttft: float | None = None
    error: str | None = None
    conversation_id: str | None = None


@dataclass
class ClientResult:
    turns: list[TurnResult] = field(default_factory=list)


def request_body(text: str, conversation_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "kb_assistant", "stream": True, "messages": [{"role": "user", "content": text}]}
    if conversation_id:
        body["conversation_id"] = conversation_id
    return body


def read_line(line: str, result: TurnResult, started: float) -> bool:
    """One line of the event stream into ``result``; True at ``data: [DONE]``."""
    if not line.startswith("data: "):
        return False
    data = line[6:]
    if data == "[DONE]":
        return True
    event = json.loads(data)
    if "error" in event:
        result.error = f"in-band error: {event['error'].get('message')}"
        return False
    result.conversation_id = event.get("conversation_id") or result.conversation_id
    delta = (event.get("choices") or [{}])[0].get("delta") or {}
    if result.ttft is None and delta.get("content"):
        result.ttft = time.perf_counter() - started
    return False


CHAT_PATH = "/v1/chat/completions"


@asynccontextmanager
async def httpx_stream(http: Any, body: dict[str, Any]) -> AsyncIterator[tuple[int, Any, AsyncIterator[str]]]:
    """A streamed chat on an httpx.AsyncClient: (status, a coroutine reading the whole body, the lines)."""
    async with http.stream("POST", CHAT_PATH, json=body) as response:
        yield response.status_code, response.aread, response.aiter_lines()


@asynccontextmanager
async def aiohttp_stream(http: Any, body: dict[str, Any]) -> AsyncIterator[tuple[int, Any, AsyncIterator[str]]]:
    """The same on an aiohttp.ClientSession."""
    async with http.post(CHAT_PATH, json=body) as response:
        yield response.status, response.read, (raw.decode().rstrip("\r\n") async for raw in response.content)


async def one_turn(http: Any, open_stream: Any, text: str, conversation_id: str | None) -> TurnResult:
    result = TurnResult(conversation_id=conversation_id)
    started = time.perf_counter()
    try:
        async with open_stream(http, request_body(text, conversation_id)) as (status, read_all, lines):
            if status != 200:
                result.error = f"HTTP {status}: {(await read_all())[:200]!r}"
                return result
            done = False
            async for line in lines:
                done = read_line(line, result, started) or done
            if not done and result.error is None:
                result.error = "stream ended without [DONE]"
    except Exception as exc:  # counted as an error of this turn
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        result.latency = time.perf_counter() - started
    return result


def session(tool: str, base_url: str, key: str) -> tuple[Any, Any]:
    """The load tool's client for one simulated user (one key), and how it opens a streamed chat."""
    headers = {"Authorization": f"Bearer {key}"}
    if tool == "aiohttp":
        import aiohttp

        return aiohttp.ClientSession(base_url=base_url, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=300)), aiohttp_stream
    import httpx

    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=httpx.Timeout(300.0)), httpx_stream


async def one_client(base_url: str, key: str, index: int, barrier: asyncio.Event, tool: str) -> ClientResult:
    out = ClientResult()
    client, open_stream = session(tool, base_url, key)
    async with client as http:
        await barrier.wait()
        first = await one_turn(http, open_stream, question(index, 0), None)
        out.turns.append(first)
        if first.error is None and first.conversation_id:
            out.turns.append(await one_turn(http, open_stream, question(index, 1), first.conversation_id))
    return out


async def drive(base_url: str, keys: list[str], tool: str = "httpx") -> tuple[list[ClientResult], float]:
    barrier = asyncio.Event()
    tasks = [asyncio.create_task(one_client(base_url, key, i, barrier, tool)) for i, key in enumerate(keys)]
    await asyncio.sleep(0.5)  # every client is waiting at the barrier
    started = time.perf_counter()
    barrier.set()
    results = await asyncio.gather(*tasks)
    return list(results), time.perf_counter() - started


def check_store(database_url: str, conversation_ids: list[str]) -> dict[str, int]:
    """Messages per conversation: lost (fewer than 4), duplicated (more than 4), wrong order of roles."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    wrong = lost = duplicated = 0
    with engine.connect() as connection:
        for conversation_id in conversation_ids:
            roles = [r for (r,) in connection.execute(
                text("SELECT role FROM messages WHERE conversation_id = :c ORDER BY seq"), {"c": conversation_id})]
            lost += max(0, 4 - len(roles))
            duplicated += max(0, len(roles) - 4)
            wrong += roles != ["user", "assistant", "user", "assistant"]
    engine.dispose()
    return {"conversations": len(conversation_ids), "lost_messages": lost, "duplicated_messages": duplicated,
            "conversations_not_4_in_order": wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--client", choices=("httpx", "aiohttp"), default="httpx",
                        help="the HTTP client library of the load tool (httpx.AsyncClient or aiohttp.ClientSession)")
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL (an empty PostgreSQL database); default: "
                                                             "SQLite in a fresh home")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--profile", default=None, help="write the server's sampling profile and SQL counts here")
    parser.add_argument("--py-spy", default=None, help="record the server with py-spy (on PATH) while the clients run, "
                                                     "raw stacks of the threads holding the GIL, to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keys-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return

    from machine import cpu_name  # bench/ is the script's folder
    from tests.live import free_port

    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        keys_file = Path(home) / "keys.json"
        database_url = args.database_url or f"sqlite:///{home}/moesaic.db"
        command = [sys.executable, __file__, "--serve", "--home", home, "--port", str(port), "--keys-file", str(keys_file),
                   "--clients", str(args.clients), "--database-url", database_url]
        if args.profile:
            command += ["--profile", str(Path(args.profile).resolve())]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "MOESAIC_LLM_BASE_URL": ""}
        server = subprocess.Popen(command, env=env)
        try:
            base_url = f"http://127.0.0.1:{port}"
            keys = wait_ready(server, keys_file, base_url)
            spy = start_py_spy(args.py_spy, server.pid) if args.py_spy else None
            load_before, cpu_before, client_before = os.getloadavg(), cpu_seconds(server.pid), time.process_time()
            results, wall = asyncio.run(drive(base_url, keys, args.client))
            load_after, cpu_after, client_after = os.getloadavg(), cpu_seconds(server.pid), time.process_time()
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
        finally:
            server.terminate()
            server.wait(timeout=60)
        turns = [t for r in results for t in r.turns]
        ok = [t for t in turns if t.error is None]
        ids = [r.turns[0].conversation_id for r in results if r.turns and r.turns[0].conversation_id]
        store = check_store(database_url, ids)
    errors = Counter(t.error for t in turns if t.error)
    latencies = [t.latency for t in ok]
    ttfts = [t.ttft for t in ok if t.ttft is not None]
    report = {
        "clients": args.clients, "client": args.client, "database": database_url.split(":", 1)[0], "cpu": cpu_name(), "cores": os.cpu_count(),
        "turns_ok": len(ok), "turns_expected": 2 * args.clients, "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)), "wall_s": round(wall, 2),
        "latency_s": {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95), "max": max(latencies, default=0)},
        "ttft_s": {"p50": percentile(ttfts, 0.5), "p95": percentile(ttfts, 0.95), "max": max(ttfts, default=0)},
        "first_turn_p95_s": percentile([r.turns[0].latency for r in results if r.turns and r.turns[0].error is None], 0.95),
        "second_turn_p95_s": percentile([r.turns[1].latency for r in results if len(r.turns) > 1 and r.turns[1].error is None], 0.95),
        "server_cpu_s_per_turn": round((cpu_after - cpu_before) / max(len(turns), 1), 4),
        "client_cpu_s_per_turn": round((client_after - client_before) / max(len(turns), 1), 4),
        "store": store, "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
    }
    if args.json:
        print(json.dumps(report))
        return
    lat, ttft = report["latency_s"], report["ttft_s"]
    print(f"# chat load: {args.clients} clients x 2 streaming turns, {report['database']}, offline model, "
          f"{report['cpu']} ({report['cores']} cores), load {report['load_before']} -> {report['load_after']}")
    print("| figure | p50 s | p95 s | max s |\n|---|---|---|---|")
    print(f"| turn latency (start to last byte) | {lat['p50']:.2f} | {lat['p95']:.2f} | {lat['max']:.2f} |")
    print(f"| time to first token | {ttft['p50']:.2f} | {ttft['p95']:.2f} | {ttft['max']:.2f} |")
    print(f"turns ok {report['turns_ok']}/{report['turns_expected']}, errors {report['errors']} {report['error_kinds']}, "
          f"first/second turn p95 {report['first_turn_p95_s']:.2f}/{report['second_turn_p95_s']:.2f} s, wall {wall:.1f} s, "
          f"API process CPU {report['server_cpu_s_per_turn'] * 1000:.0f} ms per turn, "
          f"clients {report['client_cpu_s_per_turn'] * 1000:.0f} ms per turn")
    print(f"store: {store}")


def start_py_spy(path: str, pid: int) -> subprocess.Popen[bytes]:
    """py-spy sampling the server at 250 Hz (only the thread holding the GIL), stopped with SIGINT after the run."""
    command = ["py-spy", "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--gil", *(["--native"] if os.environ.get("PYSPY_NATIVE") else ["--nonblocking"]),
               "--output", str(Path(path).resolve())]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the clients start
    return spy


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux; 0 elsewhere): a figure the other load on a shared
    machine changes less than latency."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(server: subprocess.Popen[bytes], keys_file: Path, base_url: str, timeout: float = 600) -> list[str]:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the API process stopped with {server.returncode}")
        if keys_file.exists():
            try:
                if httpx.get(base_url + "/healthz", timeout=2).status_code < 500:
                    return list(json.loads(keys_file.read_text()))
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    raise RuntimeError("the API did not start in time")


if __name__ == "__main__":
    main()
