"""Knowledge bases name their embedder and reranker; apps register their own; a new embedder re-indexes."""

from __future__ import annotations

import hashlib
import re
import secrets

import numpy as np
import pytest

from apps.kb_assistant.manifest import APP as KB_APP
from moesaic.access import ensure_tenant
from moesaic.apps import AppManifest
from moesaic.errors import ConfigError, UserError
from moesaic.services import Platform


class HashingEmbedder:
    """Bag of words hashed into 64 buckets: deterministic, tiny, and of another dimension than MiniLM."""

    name, dimension = "hashing", 64
    calls = 0

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        HashingEmbedder.calls += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class ShortestFirst:
    """A reranker with an easy-to-see opinion: shorter passages first."""

    def score(self, query: str, passages: list[str]) -> list[float]:
        return [-float(len(p)) for p in passages]


LIBRARY = AppManifest(
    name="library",
    title="Library",
    system_prompt="Answer from the library.",
    knowledge_base="library",
    knowledge_base_settings={"embedder": "library_hashing", "reranker": "library_shortest"},
    embedders={"library_hashing": HashingEmbedder},
    rerankers={"library_shortest": ShortestFirst},
)


@pytest.fixture
def library(settings, fake_model):  # type: ignore[no-untyped-def]
    platform = Platform.create(settings, model=fake_model, apps={LIBRARY.name: LIBRARY, KB_APP.name: KB_APP})
    yield platform
    platform.close()


def upload_all(platform, tenant: str, kb: str) -> None:  # type: ignore[no-untyped-def]
    docs = [("otters.txt", b"Otters hold hands while they sleep so they do not drift apart in the water."),
            ("short.txt", b"Otters sleep."),
            ("owls.txt", b"Owls turn their heads a long way to look behind them without moving their bodies.")]
    infos = [platform.knowledge.add_document(tenant, kb, name, data) for name, data in docs]
    done = platform.knowledge.wait([i.id for i in infos], timeout=120)
    assert [d.status for d in done] == ["indexed"] * 3, done


def test_an_apps_knowledge_base_uses_the_embedder_and_reranker_it_names(library) -> None:  # type: ignore[no-untyped-def]
    tenant = ensure_tenant(library.db, f"lib-{secrets.token_hex(3)}")
    library.ensure_app_knowledge(LIBRARY, tenant)
    HashingEmbedder.calls = 0
    upload_all(library, tenant, "library")
    assert HashingEmbedder.calls >= 3  # the chunks were embedded by the app's embedder, not MiniLM
    kb = next(k for k in library.knowledge.list_knowledge_bases(tenant) if k["name"] == "library")
    assert (kb["config"]["embedder"], kb["config"]["reranker"]) == ("library_hashing", "library_shortest")
    hits = library.knowledge.search(tenant, "library", "do otters sleep holding hands", top_k=2, mode="dense")
    assert [h.text for h in hits] == ["Otters sleep.", hits[1].text] and "hold hands" in hits[1].text  # reranked
    assert library.knowledge.configure_knowledge_base(tenant, "elsewhere")["embedder"] == "minilm"  # others keep MiniLM


def test_a_new_embedder_reindexes_the_knowledge_base(library) -> None:  # type: ignore[no-untyped-def]
    tenant = ensure_tenant(library.db, f"lib-{secrets.token_hex(3)}")
    upload_all(library, tenant, "notes")  # MiniLM, no reranker
    before = {d.id: d.version for d in library.knowledge.list_documents(tenant, "notes")[0]}
    HashingEmbedder.calls = 0
    library.knowledge.configure_knowledge_base(tenant, "notes", embedder="library_hashing")
    documents, _ = library.knowledge.list_documents(tenant, "notes")
    done = library.knowledge.wait([d.id for d in documents], timeout=120)
    assert all(d.status == "indexed" and d.version == before[d.id] + 1 for d in done)
    assert HashingEmbedder.calls >= 3
    hits = library.knowledge.search(tenant, "notes", "owls turn their heads", top_k=1, mode="dense")
    assert "Owls" in hits[0].text
    calls = HashingEmbedder.calls
    library.knowledge.configure_knowledge_base(tenant, "notes", embedder="library_hashing", rrf_k=30)
    assert [d.version for d in library.knowledge.list_documents(tenant, "notes")[0]] == [d.version for d in done]
    assert HashingEmbedder.calls == calls  # the same embedder again re-indexes nothing


def test_unknown_or_duplicate_retrievers_are_refused_by_name(library, settings, fake_model) -> None:  # type: ignore[no-untyped-def]
    tenant = ensure_tenant(library.db, f"lib-{secrets.token_hex(3)}")
    with pytest.raises(UserError, match="unknown embedder 'bge'; registered: library_hashing, minilm") as refused:
        library.knowledge.configure_knowledge_base(tenant, "notes", embedder="bge")
    assert refused.value.field == "embedder"
    with pytest.raises(UserError, match="unknown reranker 'x'"):
        library.knowledge.configure_knowledge_base(tenant, "notes", reranker="x")
    clash = AppManifest(name="clash", title="Clash", embedders={"library_hashing": HashingEmbedder})
    with pytest.raises(ConfigError, match="app '(clash|library)': embedder 'library_hashing' is registered twice"):
        Platform.create(settings, model=fake_model, apps={LIBRARY.name: LIBRARY, clash.name: clash})
