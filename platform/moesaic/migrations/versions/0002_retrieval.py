"""Retrieval: knowledge bases, documents with ingestion state, raw uploads, chunks, keyword index.

The keyword index lives next to the chunk rows and is maintained by the database itself, in the
same transaction as the rows: on SQLite an external-content FTS5 table kept in sync by triggers,
on PostgreSQL a generated ``tsvector`` column with a GIN index.

Revision ID: 0002_retrieval
Revises: 0001_spine
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_retrieval"
down_revision = "0001_spine"
branch_labels = None
depends_on = None

SQLITE_FTS = [
    # knowledge_base_id is indexed as a token so a query can scope itself inside MATCH
    "CREATE VIRTUAL TABLE retrieval_chunks_fts USING fts5(title, text, knowledge_base_id, "
    "content='retrieval_chunks', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER retrieval_chunks_ai AFTER INSERT ON retrieval_chunks BEGIN "
    "INSERT INTO retrieval_chunks_fts(rowid, title, text, knowledge_base_id) "
    "VALUES (new.id, new.title, new.text, new.knowledge_base_id); END",
    "CREATE TRIGGER retrieval_chunks_ad AFTER DELETE ON retrieval_chunks BEGIN "
    "INSERT INTO retrieval_chunks_fts(retrieval_chunks_fts, rowid, title, text, knowledge_base_id) "
    "VALUES ('delete', old.id, old.title, old.text, old.knowledge_base_id); END",
]
POSTGRES_FTS = [
    "ALTER TABLE retrieval_chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "to_tsvector('english', coalesce(text, ''))) STORED",
    "CREATE INDEX ix_retrieval_chunks_tsv ON retrieval_chunks USING GIN (tsv)",
]


def upgrade() -> None:
    op.create_table(
        "retrieval_knowledge_bases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_retrieval_kb_tenant_name"),
    )
    op.create_index("ix_retrieval_knowledge_bases_tenant_id", "retrieval_knowledge_bases", ["tenant_id"])
    op.create_table(
        "retrieval_documents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("knowledge_base_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("doc_date", sa.String(length=32), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("indexed_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("num_chunks", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["knowledge_base_id"], ["retrieval_knowledge_bases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("knowledge_base_id", "filename", name="uq_retrieval_documents_kb_filename"),
    )
    op.create_index("ix_retrieval_documents_tenant_id", "retrieval_documents", ["tenant_id"])
    op.create_index("ix_retrieval_documents_knowledge_base_id", "retrieval_documents", ["knowledge_base_id"])
    op.create_index("ix_retrieval_documents_status_next", "retrieval_documents", ["status", "next_attempt_at"])
    op.create_table(
        "retrieval_document_blobs",
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["retrieval_documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("document_id"),
    )
    op.create_index("ix_retrieval_document_blobs_tenant_id", "retrieval_document_blobs", ["tenant_id"])
    op.create_table(
        "retrieval_chunks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chunk_id", sa.String(length=80), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("knowledge_base_id", sa.String(length=32), nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=1000), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start_char", sa.Integer(), nullable=False),
        sa.Column("end_char", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["knowledge_base_id"], ["retrieval_knowledge_bases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["document_id"], ["retrieval_documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chunk_id"),
    )
    op.create_index("ix_retrieval_chunks_tenant_id", "retrieval_chunks", ["tenant_id"])
    op.create_index("ix_retrieval_chunks_kb_doc", "retrieval_chunks", ["knowledge_base_id", "document_id"])
    statements = SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else POSTGRES_FTS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS retrieval_chunks_ad")
        op.execute("DROP TRIGGER IF EXISTS retrieval_chunks_ai")
        op.execute("DROP TABLE IF EXISTS retrieval_chunks_fts")
    op.drop_table("retrieval_chunks")
    op.drop_table("retrieval_document_blobs")
    op.drop_table("retrieval_documents")
    op.drop_table("retrieval_knowledge_bases")
