"""MiniLM through ONNX Runtime: the local sentence-transformers weights exported to ONNX once, then run by ORT.

The graph is the whole sentence embedding (BERT, mean pooling over the attention mask, L2 normalisation), so
one ``run`` gives unit vectors; the tokenizer is the sentence-transformers model's own (max 256 tokens), so
inputs equal the torch path's. ``int8`` is ORT's dynamic quantisation of the fp32 graph (weights int8 per
output channel, activations quantised per call).

The exported file lives in a cache (``model_cache_dir()``), keyed by the weights' hash and the torch, onnx
and onnxruntime versions; a file lock keeps two processes from exporting at once, and a manifest with the
file's hash, written last, marks a finished export (a partial or corrupt file is exported again). This
module does not decide whether ONNX is used (``embeddings.create_embedder`` does) and never downloads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from moesaic.retrieval.batching import QueryBatcher

log = logging.getLogger(__name__)

ONNX_PRECISIONS = ("fp32", "int8")
CACHE_ENV = "MOESAIC_MODEL_CACHE_DIR"  # default: $MOESAIC_HOME/models
EXPORT_FORMAT = 1  # bump when the exported graph changes, so old cache files are not reused
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class OnnxUnavailable(RuntimeError):
    """The ONNX file cannot be made or loaded here (a package missing, the export failed)."""


def model_cache_dir() -> Path:
    """``$MOESAIC_MODEL_CACHE_DIR``, else ``models`` in ``$MOESAIC_HOME`` (default ``./.moesaic``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("MOESAIC_HOME") or ".moesaic") / "models"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _weights_sha256(model_path: str) -> str:
    """The hash of the files that decide the graph (weights and model config)."""
    digest = hashlib.sha256()
    for name in ("model.safetensors", "config.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        path = Path(model_path) / name
        if path.exists():
            digest.update(name.encode() + b"\0" + _file_sha256(path).encode())
    return digest.hexdigest()


def cache_key(model_path: str, precision: str) -> str:
    """Weights' hash + exporter and runtime versions + precision: a change of any gives a new file."""
    import onnx
    import onnxruntime
    import torch

    parts = [_weights_sha256(model_path), f"torch={torch.__version__}", f"onnx={onnx.__version__}",
             f"onnxruntime={onnxruntime.__version__}", f"format={EXPORT_FORMAT}", f"opset={OPSET}", precision]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def onnx_model_file(model_path: str, precision: str, cache_dir: Path | None = None) -> Path:
    """The cached ONNX file for these weights and precision, exported (under a file lock) if missing or invalid."""
    if precision not in ONNX_PRECISIONS:
        raise ValueError(f"unknown ONNX precision {precision!r}; valid: {', '.join(ONNX_PRECISIONS)}")
    try:
        from filelock import FileLock

        key = cache_key(model_path, precision)
    except ImportError as exc:  # onnx (or torch) is not installed: nothing to export with
        raise OnnxUnavailable(f"cannot export to ONNX: {exc}") from exc
    directory = cache_dir or model_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{Path(model_path).parent.name}-{precision}-{key}.onnx"
    with FileLock(str(target) + ".lock", timeout=900):
        if is_valid_cache(target):
            return target
        log.info("exporting %s to ONNX (%s) at %s", model_path, precision, target)
        _export(model_path, precision, target)
    return target


def _manifest_path(target: Path) -> Path:
    return target.with_suffix(".json")


def is_valid_cache(target: Path) -> bool:
    """Whether ``target`` is a finished export: its manifest (written last) names its size and hash."""
    try:
        manifest = json.loads(_manifest_path(target).read_text())
        return bool(target.stat().st_size == manifest["size"] and _file_sha256(target) == manifest["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _export(model_path: str, precision: str, target: Path) -> None:
    """Export into a temporary file beside ``target``, quantise if asked, then rename into place and write the
    manifest; a crash leaves no file that passes ``is_valid_cache``."""
    _manifest_path(target).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        fp32 = Path(tmp) / "model.onnx"
        try:
            _export_fp32(model_path, fp32)
            if precision == "int8":
                from onnxruntime.quantization import QuantType, quantize_dynamic

                result = Path(tmp) / "model-int8.onnx"
                quantize_dynamic(fp32, result, per_channel=True, weight_type=QuantType.QInt8)
            else:
                result = fp32
        except ImportError as exc:
            raise OnnxUnavailable(f"cannot export to ONNX: {exc}") from exc
        os.replace(result, target)
    manifest = {"size": target.stat().st_size, "sha256": _file_sha256(target), "model_path": model_path,
                "precision": precision}
    tmp_manifest = _manifest_path(target).with_suffix(".json.tmp")
    tmp_manifest.write_text(json.dumps(manifest))
    os.replace(tmp_manifest, _manifest_path(target))


def _export_fp32(model_path: str, out: Path) -> None:
    import warnings

    import onnx  # noqa: F401  (the exporter needs it; fail here with ImportError when it is missing)
    import torch

    from moesaic.retrieval.embeddings import _load_model

    class SentenceGraph(torch.nn.Module):
        """BERT -> mean over the real tokens -> unit length, as sentence-transformers' Pooling + Normalize."""

        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state  # [B, T, D]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)  # [B, D]
            return torch.nn.functional.normalize(pooled, dim=1)

    model = _load_model(model_path)
    graph = SentenceGraph(model[0].auto_model).eval()
    sample = tokenize(model, ["an example sentence", "a second, longer example sentence for the export"])
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph, tuple(torch.from_numpy(sample[name]) for name in INPUT_NAMES), str(out),
            input_names=list(INPUT_NAMES), output_names=["embedding"], opset_version=OPSET, dynamo=False,
            dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES}, "embedding": {0: "batch"}},
        )


def tokenize(model: Any, texts: list[str]) -> dict[str, np.ndarray]:
    """The sentence-transformers model's own tokenisation (truncated to its max_seq_length), as int64 arrays."""
    features = model.preprocess(texts)
    return {name: features[name].numpy().astype(np.int64) for name in INPUT_NAMES}


class OnnxEmbedder:
    """MiniLM run by ONNX Runtime; ``precision`` ``fp32`` or ``int8``. Same interface and behaviour as
    ``SentenceTransformerEmbedder``: texts sorted by length into batches, queries batched across threads
    and run on a one-thread session, one pass at a time (the lock)."""

    backend = "onnx"

    def __init__(
        self, model_path: str | Path | None = None, *, batch_size: int = 64, precision: str = "fp32",
        cache_dir: Path | None = None,
    ) -> None:
        from moesaic.retrieval.embeddings import QUERY_THREADS, _load_model, default_model_path

        self.model_path = str(model_path or default_model_path())
        self.name = Path(self.model_path).parent.name if model_path is None else Path(self.model_path).name
        self.batch_size = batch_size
        self.precision = precision
        self.onnx_path = onnx_model_file(self.model_path, precision, cache_dir)
        self._model = _load_model(self.model_path)  # its tokenizer
        self.dimension = int(self._model.get_embedding_dimension())
        self._sessions: dict[int, Any] = {}
        self._session(0)  # load now: a bad file fails here, not at the first document
        self._query_threads = QUERY_THREADS
        self._lock = threading.Lock()
        self._queries = QueryBatcher(self._embed_queries, max_batch=batch_size)

    def _session(self, threads: int) -> Any:
        """An ORT session with ``threads`` intra-op threads (0: ORT's default, one per core)."""
        if threads not in self._sessions:
            try:
                import onnxruntime as ort
            except ImportError as exc:
                raise OnnxUnavailable(f"onnxruntime is not installed: {exc}") from exc
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # no spin-waiting between ops: same speed alone, less CPU on a shared machine (measured 41 vs 36 chunks/CPU-s)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._sessions[threads] = ort.InferenceSession(str(self.onnx_path), options,
                                                           providers=["CPUExecutionProvider"])
        return self._sessions[threads]

    def embed_documents(self, texts: list[str], *, threads: int | None = None) -> np.ndarray:
        """``threads``: ORT intra-op threads for this pass (None: one per core)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda k: -len(texts[k]))  # similar lengths pad little
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)  # [N, D]
        with self._lock:
            session = self._session(threads or 0)
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                features = tokenize(self._model, [texts[k] for k in rows])  # [B, T] each
                vectors[rows] = session.run(["embedding"], features)[0]  # [B, D]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def _embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed_documents(texts, threads=self._query_threads)

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector; queries of other threads waiting at the same moment share its pass."""
        return self._queries.embed(text)
