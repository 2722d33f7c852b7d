"""medical_ner speed on this machine's CPU: sentences/s batched, and note latency through the API.

For each precision (fp32, bf16, int8): sentences per second over the first N NCBI-disease devel
sentences, tagged in batches of 64 (sentence splitting, tokenization, the model, decoding; assertion
rules excluded), best of R runs. Then p50/p95 latency of ``POST /v1/apps/medical_ner/extract`` for a
100-word note (the full path: gate, sentence split, model, assertions) with an in-process client.
Run: ``.venv/bin/python bench/medical_ner_bench.py [--sentences 512] [--requests 100]``; needs the
public data (MOESAIC_DATASETS_DIR). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as stdlib_platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

NOTE = (
    "63 year old woman with type 2 diabetes, hypertension and chronic kidney disease presents with two days "
    "of fever and productive cough. She denies chest pain or shortness of breath. Chest X-ray shows a right "
    "lower lobe consolidation concerning for pneumonia. Her mother had breast cancer. Home medications are "
    "metformin, lisinopril and atorvastatin. Started ceftriaxone and azithromycin; acetaminophen as needed "
    "for fever. Return if symptoms of sepsis appear. No history of tuberculosis. Blood cultures and a "
    "complete blood count were sent; creatinine is stable. Possible early sepsis cannot be excluded. She "
    "was advised to avoid ibuprofen because of her kidney disease and to keep taking insulin."
)


def cpu_name() -> str:
    """Model name plus family/model (a bare "AMD EPYC" names no generation) and the bf16 support."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return stdlib_platform.processor() or "unknown"
    bf16 = "avx512_bf16" in fields.get("flags", "").split()
    return f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')} model {fields.get('model', '?')}, avx512_bf16 {'yes' if bf16 else 'no'})"


def sentences_per_second(precision: str, texts: list[str], repeats: int) -> float:
    from apps.medical_ner.tagger import Tagger

    tagger = Tagger.load(precision=precision)
    tagger.tag(texts[:64])  # warm-up
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        tagger.tag(texts)
        best = max(best, len(texts) / (time.perf_counter() - started))
    return best


def api_latency(precision: str, num_requests: int) -> tuple[float, float]:
    from fastapi.testclient import TestClient

    from apps.medical_ner.manifest import APP
    from apps.medical_ner.tagger import Tagger
    from moesaic.access import create_api_key
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.llm import FakeChatModel
    from moesaic.services import Platform

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), database_url=f"sqlite:///{home}/m.db", datasets_dir=Path(home))
        platform = Platform.create(settings, model=FakeChatModel(), apps={APP.name: APP}, start_worker=False)
        platform.app_context(APP.name).services["tagger"] = Tagger.load(precision=precision)
        key = create_api_key(platform.db, "bench", role="viewer")
        with TestClient(create_app(platform=platform)) as client:
            headers = {"Authorization": f"Bearer {key}"}
            for _ in range(5):
                client.post("/v1/apps/medical_ner/extract", json={"text": NOTE}, headers=headers)
            times = []
            for _ in range(num_requests):
                started = time.perf_counter()
                response = client.post("/v1/apps/medical_ner/extract", json={"text": NOTE}, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
        platform.close()
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--precisions", default="fp32,bf16,int8")
    args = parser.parse_args()
    from apps.medical_ner.iob import default_ner_dir, read_corpora

    corpora = read_corpora(default_ner_dir(), "devel", ("NCBI-disease-IOB",))
    if not corpora:
        print(f"error: NCBI-disease-IOB/devel.tsv not under {default_ner_dir()} (set MOESAIC_DATASETS_DIR)", file=sys.stderr)
        return 2
    texts = [s.text for s in corpora["NCBI-disease"][: args.sentences]]
    report: dict[str, object] = {
        "cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "num_sentences": len(texts), "note_words": len(NOTE.split()), "precisions": {},
    }
    print(f"CPU: {report['cpu']} ({report['cores']} cores, torch threads {report['torch_threads']})")
    print(f"{'precision':10s} {'sentences/s':>12s} {'note p50 ms':>12s} {'note p95 ms':>12s}")
    for precision in args.precisions.split(","):
        speed = sentences_per_second(precision, texts, args.repeats)
        p50, p95 = api_latency(precision, args.requests)
        report["precisions"][precision] = {"sentences_per_s": round(speed, 1), "note_p50_ms": round(p50, 1), "note_p95_ms": round(p95, 1)}  # type: ignore[index]
        print(f"{precision:10s} {speed:12.1f} {p50:12.1f} {p95:12.1f}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
