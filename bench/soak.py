"""Soak benchmark: concurrent chats and uploads against a live API while a worker is killed and the
database goes away; then every record is checked against what the clients saw.

    .venv/bin/python bench/soak.py [--seconds 120 --chats 8 --uploaders 2 --outage 10]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/soak_bench]
        [--redis redis://127.0.0.1:6379/7] [--quick]

The API runs as ``moesaic serve`` in a subprocess on the offline extractive model (kb_assistant). With
``--redis`` ingestion runs on two ``moesaic worker`` subprocesses; without it, on the API's own worker.

Faults (a quarter into the run, then at half of it; the run goes on for a quarter of ``--seconds`` after them):
- worker: with Redis, SIGKILL one worker (preferably while it holds an ingest job) and start a new one;
  without Redis the worker lives in the API process, so the API process is SIGKILLed and started again on
  the same port (clients see connection errors meanwhile and retry).
- database: PostgreSQL is reached through a TCP proxy in this process that drops every
  connection and refuses new ones for ``--outage`` seconds (a restart as the API and workers see it).
  SQLite has no server to restart: its equivalent is another process holding the write lock
  (``BEGIN EXCLUSIVE``) for ``--outage`` seconds; writers wait on the busy timeout.

Checks (goal 0 for each): lost = a chat the client saw answered whose question or answer is not stored;
duplicated = stored more than once; half-stored = a question stored without an answer although no process
was killed under it (a request that failed must leave nothing, an interrupted answer must be marked);
uploads that returned 201 must end indexed with exactly their chunks (SQL rows and Chroma vectors, no
duplicate chunk sequence numbers). Client errors must be documented ones: 503 with Retry-After, 409, and
connection errors only while a process was killed. Latency p50/p95 of answered chats, calm and during faults.
Prints a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "platform"), str(REPO / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import httpx  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from machine import cpu_name  # noqa: E402
from moesaic.config import Settings  # noqa: E402
from moesaic.db import Database  # noqa: E402
from tests.jobs.conftest import worker_command, worker_env  # noqa: E402
from tests.live import free_port, stop_processes  # noqa: E402

APP = "kb_assistant"
KB = "soak"
TOPICS = ["connect a model", "upload a document", "reset an API key", "the job queue", "retention settings",
          "export tenant data", "keyword search", "rate limits", "the answer cache", "citations"]


# --- the database fault ----------------------------------------------------------------------------------

class CuttableProxy:
    """A loopback TCP proxy to PostgreSQL whose ``cut(seconds)`` drops every connection and refuses new
    ones for that long: what the API and the workers see when the server restarts."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down_until = 0.0
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.down_until:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with self.lock:
                    self.open.discard(end)
                try:
                    end.close()
                except OSError:
                    pass

    def cut(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds
        with self.lock:
            ends = list(self.open)
            self.open.clear()
        for end in ends:
            try:
                end.shutdown(socket.SHUT_RDWR)
                end.close()
            except OSError:
                pass
        time.sleep(seconds)

    def close(self) -> None:
        self.closed = True
        self.listener.close()


def hold_sqlite_write_lock(path: Path, seconds: float) -> None:
    connection = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        connection.execute("ROLLBACK")
    finally:
        connection.close()


# --- what the clients saw ----------------------------------------------------------------------------------

@dataclass
class Chat:
    question: str
    stream: bool
    started: float
    ended: float = 0.0
    conversation_id: str | None = None
    answered: bool = False
    answer: str = ""
    statuses: list[str] = field(default_factory=list)  # every attempt: "200", "503", "conn"...


@dataclass
class Upload:
    filename: str
    started: float
    status: str = ""
    document_id: str | None = None


@dataclass
class Timeline:
    start: float = 0.0
    kills: list[tuple[float, float]] = field(default_factory=list)  # (from, to) while a process was down
    outages: list[tuple[float, float]] = field(default_factory=list)
    api_killed: bool = False

    def in_fault(self, t0: float, t1: float) -> bool:
        return any(t0 <= b + 1.0 and t1 >= a for a, b in self.kills + self.outages)

    def in_kill(self, t0: float, t1: float) -> bool:
        return any(t0 <= b + 1.0 and t1 >= a for a, b in self.kills)


class Api:
    """``moesaic serve`` in a subprocess, restartable on the same port."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moesaic.cli", "serve", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600  # a loaded 2-core machine takes minutes
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the API did not start")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_processes([self.process])


def chat_client(api_url: str, key: str, until: list[float], chats: list[Chat], lock: threading.Lock, index: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    rng = random.Random(index)
    with httpx.Client(base_url=api_url, headers=headers, timeout=120) as client:
        n = 0
        while time.monotonic() < until[0]:
            conversation: str | None = None
            for turn in range(2):  # a new conversation and a second turn on it
                n += 1
                topic = rng.choice(TOPICS)
                record = Chat(f"[{index}.{n}] How do I handle {topic}? {secrets.token_hex(4)}",
                              stream=(index + n) % 2 == 0, started=time.monotonic(), conversation_id=conversation)
                one_chat(client, record)
                with lock:
                    chats.append(record)
                if not record.answered:
                    break
                conversation = record.conversation_id


def one_chat(client: httpx.Client, record: Chat, give_up_s: float = 600) -> None:
    """One question, retried with the same Idempotency-Key on 503, 409 and connection errors (a restarted
    API takes a while to come back on a loaded machine) for up to ``give_up_s``."""
    body: dict[str, Any] = {"model": APP, "messages": [{"role": "user", "content": record.question}],
                            "stream": record.stream}
    if record.conversation_id:
        body["conversation_id"] = record.conversation_id
    key = uuid.uuid4().hex
    give_up = time.monotonic() + give_up_s
    while time.monotonic() < give_up:
        wait = 1.0
        try:
            if record.stream:
                with client.stream("POST", "/v1/chat/completions", json=body, headers={"Idempotency-Key": key}) as r:
                    if r.status_code == 200:
                        text_parts, done, conversation = [], False, None
                        for line in r.iter_lines():
                            if line == "data: [DONE]":
                                done = True
                            elif line.startswith("data: {"):
                                chunk = json.loads(line[6:])
                                conversation = chunk.get("conversation_id") or conversation
                                if "error" in chunk:
                                    break
                                for choice in chunk.get("choices") or []:
                                    text_parts.append((choice.get("delta") or {}).get("content") or "")
                        record.statuses.append("200" if done else "200-cut")
                        if done:
                            record.answered, record.answer = True, "".join(text_parts)
                            record.conversation_id = conversation or record.conversation_id
                            break
                    else:
                        r.read()
                        record.statuses.append(_status(r))
                        wait = float(r.headers.get("Retry-After", 1))
            else:
                r = client.post("/v1/chat/completions", json=body, headers={"Idempotency-Key": key})
                record.statuses.append(_status(r))
                if r.status_code == 200:
                    data = r.json()
                    record.answered = True
                    record.answer = data["choices"][0]["message"]["content"] or ""
                    record.conversation_id = data.get("conversation_id") or record.conversation_id
                    break
                wait = float(r.headers.get("Retry-After", 1))
        except (httpx.TransportError, json.JSONDecodeError):
            record.statuses.append("conn")
        time.sleep(min(wait, 5.0))
    record.ended = time.monotonic()


def _status(response: httpx.Response) -> str:
    if response.status_code == 503 and not response.headers.get("Retry-After"):
        return "503-no-retry-after"
    return str(response.status_code)


def upload_client(api_url: str, key: str, until: list[float], uploads: list[Upload], lock: threading.Lock,
                  index: int, pause: float) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=120) as client:
        n = 0
        while time.monotonic() < until[0]:
            n += 1
            name = f"soak-{index}-{n}.md"
            body = "\n\n".join(f"## Part {p}\n\nSoak document {index}.{n}, part {p}: {secrets.token_hex(16)} " * 3
                               for p in range(random.randint(1, 6)))
            record = Upload(name, time.monotonic())
            give_up = time.monotonic() + 600  # as long as a restart may take on a loaded machine
            while time.monotonic() < give_up:
                try:
                    r = client.post(f"/v1/knowledge-bases/{KB}/documents", files={"file": (name, body.encode(), "text/markdown")})
                    record.status = _status(r)
                    if r.status_code == 201:
                        record.document_id = r.json()["id"]
                        break
                    time.sleep(min(float(r.headers.get("Retry-After", 1)), 5.0))
                except httpx.TransportError:
                    record.status = "conn"
                    time.sleep(1)
            with lock:
                uploads.append(record)
            time.sleep(pause)


# --- checks against the database ----------------------------------------------------------------------------

def check_chats(db: Database, chats: list[Chat], timeline: Timeline) -> dict[str, Any]:
    from moesaic.memory.tables import MessageRecord

    conversations = {c.conversation_id for c in chats if c.conversation_id}
    with db.session() as session:
        rows = session.execute(select(MessageRecord.conversation_id, MessageRecord.seq, MessageRecord.role,
                                      MessageRecord.content, MessageRecord.error)
                               .where(MessageRecord.conversation_id.in_(conversations))).all() if conversations else []
    by_conversation: dict[str, list[Any]] = {}
    for row in rows:
        by_conversation.setdefault(row.conversation_id, []).append(row)
    for messages in by_conversation.values():
        messages.sort(key=lambda m: m.seq)
    lost = duplicated = half = interrupted_by_kill = marked = failed_but_stored = 0
    examples: list[str] = []
    by_question: dict[str, Chat] = {c.question: c for c in chats}
    for chat in chats:
        if not chat.answered:
            continue
        messages = by_conversation.get(chat.conversation_id or "", [])
        asked = [i for i, m in enumerate(messages) if m.role == "user" and m.content == chat.question]
        if not asked:
            lost += 1
            examples.append(f"lost question {chat.question!r}")
            continue
        if len(asked) > 1:
            duplicated += 1
            examples.append(f"question stored {len(asked)} times: {chat.question!r}")
        answers = [m for m in messages[asked[0] + 1:] if m.role == "assistant"][:1]
        later_user = next((i for i, m in enumerate(messages) if i > asked[0] and m.role == "user"), len(messages))
        replies = [m for m in messages[asked[0] + 1:later_user] if m.role == "assistant"]
        if not answers or answers[0].content.strip() != chat.answer.strip():
            lost += 1
            examples.append(f"answer not stored as seen for {chat.question!r}")
        elif len(replies) > 1:
            duplicated += 1
            examples.append(f"answer stored {len(replies)} times for {chat.question!r}")
    for messages in by_conversation.values():  # every question stored: answered, marked, or its process killed
        for i, message in enumerate(messages):
            if message.role != "user":
                continue
            nxt = messages[i + 1] if i + 1 < len(messages) else None
            if nxt is not None and nxt.role == "assistant":
                if nxt.error:
                    marked += 1
                continue
            chat = by_question.get(message.content)
            if chat is not None and not chat.answered:
                if timeline.in_kill(chat.started, chat.ended or chat.started) and "conn" in chat.statuses:
                    interrupted_by_kill += 1
                    continue
                failed_but_stored += 1
            half += 1
            examples.append(f"question without answer: {message.content!r} (client saw "
                            f"{chat.statuses if chat else 'nothing'})")
    return {"answered": sum(c.answered for c in chats), "lost": lost, "duplicated": duplicated, "half_stored": half,
            "of_which_failed_request_left_question": failed_but_stored,
            "questions_left_by_killed_process": interrupted_by_kill, "answers_marked_interrupted": marked,
            "examples": examples[:8]}


def check_uploads(db: Database, settings: Settings, uploads: list[Upload], timeout: float) -> dict[str, Any]:
    from moesaic.retrieval.tables import ChunkRecord, DocumentRecord

    ids = [u.document_id for u in uploads if u.document_id]
    deadline = time.monotonic() + timeout
    while ids and time.monotonic() < deadline:
        with db.session() as session:
            waiting = session.scalar(select(text("count(*)")).select_from(DocumentRecord).where(
                DocumentRecord.id.in_(ids), DocumentRecord.status.notin_(("indexed", "failed"))))
        if not waiting:
            break
        time.sleep(0.5)
    with db.session() as session:
        documents = {d.id: (d.status, d.num_chunks, d.knowledge_base_id, d.error)
                     for d in session.execute(select(DocumentRecord.id, DocumentRecord.status, DocumentRecord.num_chunks,
                                                     DocumentRecord.knowledge_base_id, DocumentRecord.error)
                                              .where(DocumentRecord.id.in_(ids))).all()} if ids else {}
        chunk_rows = session.execute(select(ChunkRecord.document_id, ChunkRecord.seq)
                                     .where(ChunkRecord.document_id.in_(ids))).all() if ids else []
    chunks: dict[str, list[int]] = {}
    for document_id, seq in chunk_rows:
        chunks.setdefault(document_id, []).append(seq)
    vectors = _vector_counts(settings, documents)
    not_indexed = duplicated = mismatched = 0
    examples: list[str] = []
    for document_id in ids:
        status, num_chunks, _, error = documents.get(document_id, ("missing", 0, "", None))
        seqs = chunks.get(document_id, [])
        if status != "indexed":
            not_indexed += 1
            examples.append(f"{document_id}: {status} {error or ''}"[:200])
        elif len(seqs) != len(set(seqs)) or (vectors is not None and vectors.get(document_id, 0) > num_chunks):
            duplicated += 1
            examples.append(f"{document_id}: {len(seqs)} chunk rows, {len(set(seqs))} distinct, "
                            f"{vectors.get(document_id) if vectors else '?'} vectors, num_chunks {num_chunks}")
        elif len(seqs) != num_chunks or (vectors is not None and vectors.get(document_id, 0) != num_chunks):
            mismatched += 1
            examples.append(f"{document_id}: {len(seqs)} chunk rows, "
                            f"{vectors.get(document_id) if vectors else '?'} vectors, num_chunks {num_chunks}")
    return {"accepted": len(ids), "not_indexed": not_indexed, "duplicated": duplicated, "half_stored": mismatched,
            "vectors_checked": vectors is not None, "examples": examples[:8]}


def _vector_counts(settings: Settings, documents: dict[str, tuple[Any, ...]]) -> dict[str, int] | None:
    """Chroma vectors per document (read after every process that writes Chroma has stopped)."""
    try:
        from moesaic.retrieval.vector_store import ChromaVectorStore

        store = ChromaVectorStore.from_settings(settings)
        counts: dict[str, int] = {}
        for kb_id in {d[2] for d in documents.values()}:
            got = store._collection(kb_id).get(where={"document_id": {"$in": [i for i, d in documents.items()
                                                                              if d[2] == kb_id]}}, include=["metadatas"])
            for metadata in got["metadatas"] or []:
                counts[str(metadata["document_id"])] = counts.get(str(metadata["document_id"]), 0) + 1
        return counts
    except Exception as exc:  # noqa: BLE001 - the SQL checks still stand; say why vectors were not
        print(f"(vectors not checked: {exc})", file=sys.stderr)
        return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- the run ----------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--chats", type=int, default=8, help="concurrent chat clients")
    parser.add_argument("--uploaders", type=int, default=2, help="concurrent upload clients")
    parser.add_argument("--upload-pause", type=float, default=1.0, help="seconds between one client's uploads")
    parser.add_argument("--outage", type=float, default=10, help="seconds the database is away")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL of a database of your own (a fresh schema is used, dropped after)")
    parser.add_argument("--redis", default=None, help="Redis URL: ingestion on two `moesaic worker` processes")
    parser.add_argument("--quick", action="store_true", help="45 s, 4 chat clients, 1 uploader, 6 s outage")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and schema")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.chats, args.uploaders, args.outage = 45, 4, 1, 6
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="moesaic-soak-"))
    queue_name = f"moesaic_soak_{secrets.token_hex(6)}"
    proxy: CuttableProxy | None = None
    schema = None
    admin = None
    if args.database_url:
        schema = f"soak_{uuid.uuid4().hex[:12]}"
        admin = create_engine(args.database_url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        target = make_url(args.database_url)
        proxy = CuttableProxy(target.host or "127.0.0.1", target.port or 5432)
        proxied = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        url = f"{proxied}{'&' if '?' in proxied else '?'}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{work / 'moesaic.db'}"
    settings = Settings(home=work / "home", database_url=url, redis_url=args.redis, jobs_queue=queue_name)
    timeline = Timeline()
    chats: list[Chat] = []
    uploads: list[Upload] = []
    workers: list[subprocess.Popen[bytes]] = []
    api: Api | None = None
    lock = threading.Lock()
    result: dict[str, Any] = {}
    try:
        key = _prepare(settings)
        base_env = worker_env(settings, work)
        env = {**base_env, "MOESAIC_RATE_LIMIT_PER_MINUTE": "0", "MOESAIC_RATE_LIMIT_CHAT_PER_MINUTE": "0",
               "MOESAIC_INGEST_WORKER": "false" if args.redis else "true"}
        worker_logs = work / "workers.log"

        def start_worker() -> subprocess.Popen[bytes]:
            with open(worker_logs, "ab") as log:
                return subprocess.Popen(worker_command(2), env={**base_env, "MOESAIC_JOB_LEASE_SECONDS": "5"},
                                        stdout=log, stderr=subprocess.STDOUT)

        if args.redis:
            workers = [start_worker(), start_worker()]
        api = Api(env, free_port(), work / "api.log")
        api.start()
        timeline.start = time.monotonic()
        until = [timeline.start + args.seconds]  # moved on if the faults end late (clients run on after them)
        threads = [threading.Thread(target=chat_client, args=(api.url, key, until, chats, lock, i))
                   for i in range(args.chats)]
        threads += [threading.Thread(target=upload_client, args=(api.url, key, until, uploads, lock, i, args.upload_pause))
                    for i in range(args.uploaders)]
        for thread in threads:
            thread.start()
        # the worker fault at a quarter of the run
        time.sleep(max(0.0, timeline.start + args.seconds / 4 - time.monotonic()))
        killed_at = time.monotonic()
        if args.redis:
            victim = _busy_worker(settings, workers) or workers[0]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            workers.append(start_worker())
            timeline.kills.append((killed_at, time.monotonic()))
            result["killed"] = "worker"
        else:
            api.kill()
            api.start()
            timeline.api_killed = True
            timeline.kills.append((killed_at, time.monotonic()))
            result["killed"] = "api (its in-process ingestion worker)"
        # the database fault at half the run, and at least 5 s after the kill's recovery
        time.sleep(max(0.0, timeline.start + args.seconds / 2 - time.monotonic(), 5.0))
        outage_at = time.monotonic()
        if proxy is not None:
            proxy.cut(args.outage)
            result["database_fault"] = f"PostgreSQL connections dropped and refused for {args.outage:g} s"
        else:
            hold_sqlite_write_lock(work / "moesaic.db", args.outage)
            result["database_fault"] = f"SQLite write lock held by another process for {args.outage:g} s"
        timeline.outages.append((outage_at, time.monotonic()))
        until[0] = max(until[0], time.monotonic() + args.seconds / 4)  # calm traffic after the faults too
        for thread in threads:
            thread.join()
        run_seconds = time.monotonic() - timeline.start
        db = Database(url)
        check_uploads(db, settings, uploads, timeout=max(120, args.seconds))  # waits for the queue to drain
        api.stop()
        stop_processes(workers)
        uploads_report = check_uploads(db, settings, uploads, timeout=1)  # again, vectors read with every writer gone
        chats_report = check_chats(db, chats, timeline)
        db.dispose()
        result.update(_figures(args, chats, uploads, timeline, chats_report, uploads_report, run_seconds,
                               load_before, bool(proxy)))
    finally:
        if api is not None:
            api.stop()
        for process in workers:
            if process.poll() is None:
                process.kill()
        if proxy is not None:
            proxy.close()
        if args.redis:
            import redis

            client = redis.Redis.from_url(args.redis)
            for k in client.scan_iter(match=f"huey.*{queue_name}*"):
                client.delete(k)
        if admin is not None and not args.keep:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        print(f"work folder: {work}" + ("" if args.keep else " (logs kept; delete when done)"), file=sys.stderr)
    _print(result)
    return 0 if result.get("ok") else 1


def _prepare(settings: Settings) -> str:
    """Migrate, seed the apps' knowledge and create a key once, before several processes start."""
    from moesaic.access import create_api_key
    from moesaic.retrieval.tables import DocumentRecord
    from moesaic.services import Platform

    platform = Platform.create(settings, start_worker=True)
    try:
        with platform.db.session() as session:
            seeded = list(session.scalars(select(DocumentRecord.id)).all())
        platform.knowledge.wait(seeded, timeout=300)
        return create_api_key(platform.db, name="soak")
    finally:
        platform.close()


def _busy_worker(settings: Settings, workers: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes] | None:
    """A live worker that holds a job now (waits up to 5 s for one)."""
    from moesaic.jobs.tables import JobRecord

    db = Database(settings.resolved_database_url)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with db.session() as session:
                owners = session.scalars(select(JobRecord.lease_owner).where(JobRecord.state == "running")).all()
            for process in workers:
                if process.poll() is None and any((o or "").startswith(f"{process.pid}-") for o in owners):
                    return process
            time.sleep(0.05)
        return None
    finally:
        db.dispose()


def _figures(args: argparse.Namespace, chats: list[Chat], uploads: list[Upload], timeline: Timeline,
             chats_report: dict[str, Any], uploads_report: dict[str, Any], run_seconds: float,
             load_before: tuple[float, float, float], postgres: bool) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for status in [s for c in chats for s in c.statuses] + [u.status for u in uploads]:
        statuses[status] = statuses.get(status, 0) + 1
    documented = {"200", "201", "409", "503", "conn", "200-cut"}
    unexpected = {s: n for s, n in statuses.items() if s not in documented}
    conn_outside_kill = sum(1 for c in chats if "conn" in c.statuses and not timeline.in_kill(c.started, c.ended))
    calm = [(c.ended - c.started) * 1000 for c in chats if c.answered and not timeline.in_fault(c.started, c.ended)]
    fault = [(c.ended - c.started) * 1000 for c in chats if c.answered and timeline.in_fault(c.started, c.ended)]
    lost = chats_report["lost"] + uploads_report["not_indexed"]
    duplicated = chats_report["duplicated"] + uploads_report["duplicated"]
    half = chats_report["half_stored"] + uploads_report["half_stored"]
    unanswered = len(chats) - chats_report["answered"]  # given up after 10 minutes of retries: a liveness failure
    ok = lost == 0 and duplicated == 0 and half == 0 and not unexpected and conn_outside_kill == 0 and unanswered == 0
    return {
        "database": "postgresql" if postgres else "sqlite", "jobs": "redis, 2 workers" if args.redis else "in the API",
        "seconds": round(run_seconds, 1), "chat_clients": args.chats, "upload_clients": args.uploaders,
        "chats": len(chats), "chats_answered": chats_report["answered"],
        "chats_unanswered": len(chats) - chats_report["answered"],
        "uploads": len(uploads), "uploads_accepted": uploads_report["accepted"],
        "lost": lost, "duplicated": duplicated, "half_stored": half,
        "chat_checks": {k: v for k, v in chats_report.items() if k != "examples"},
        "upload_checks": {k: v for k, v in uploads_report.items() if k != "examples"},
        "examples": chats_report["examples"] + uploads_report["examples"],
        "statuses": statuses, "unexpected_statuses": unexpected, "connection_errors_outside_kill": conn_outside_kill,
        "latency_ms": {"calm": {"n": len(calm), "p50": round(percentile(calm, 0.5)), "p95": round(percentile(calm, 0.95))}
                       if calm else None,
                       "during_faults": {"n": len(fault), "p50": round(percentile(fault, 0.5)),
                                         "p95": round(percentile(fault, 0.95))} if fault else None},
        "cpu": cpu_name(), "cores": os.cpu_count(), "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()], "ok": ok,
    }


def _print(result: dict[str, Any]) -> None:
    if "lost" in result:
        print(f"\n# soak: {result['database']}, jobs {result['jobs']}, {result['seconds']} s, "
              f"{result['chat_clients']} chat + {result['upload_clients']} upload clients; load {result['load_before']}"
              f" -> {result['load_after']}; {result['cpu']}")
        print(f"faults: killed {result.get('killed')}; {result.get('database_fault')}")
        print("| figure | value |\n|---|---|")
        for name in ("chats", "chats_answered", "uploads_accepted", "lost", "duplicated", "half_stored",
                     "connection_errors_outside_kill"):
            print(f"| {name} | {result[name]} |")
        print(f"| statuses | {result['statuses']} |")
        for phase, figures in result["latency_ms"].items():
            if figures:
                print(f"| chat latency {phase} (n={figures['n']}) | p50 {figures['p50']} ms, p95 {figures['p95']} ms |")
        for example in result["examples"]:
            print(f"  ! {example}")
    print(json.dumps(result))


if __name__ == "__main__":
    raise SystemExit(main())
