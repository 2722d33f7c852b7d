"""literature_analysis: saved PubMed queries (what to sync into which knowledge base, how often, how far)
and the PMIDs each brought in.

Revision ID: literature_analysis_0001
Revises:
Depends on: 0004_jobs
"""
import sqlalchemy as sa
from alembic import op

revision = "literature_analysis_0001"
down_revision = None
branch_labels = ("literature_analysis",)
depends_on = "0004_jobs"

TABLE = "literature_analysis_saved_queries"
ARTICLES = "literature_analysis_query_articles"  # the PMIDs each query brought in


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("term", sa.String(length=4000), nullable=False),
        sa.Column("datetype", sa.String(length=4), nullable=False),
        sa.Column("knowledge_base", sa.String(length=64), nullable=False),
        sa.Column("interval_hours", sa.Integer(), nullable=False),
        sa.Column("synced_through", sa.Date(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_job_id", sa.String(length=32), nullable=True),
        sa.Column("num_found", sa.Integer(), nullable=False),
        sa.Column("num_written", sa.Integer(), nullable=False),
        sa.Column("num_runs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_literature_analysis_saved_queries_name"),
    )
    op.create_index("ix_literature_analysis_saved_queries_tenant_id", TABLE, ["tenant_id"])
    op.create_table(
        ARTICLES,
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("query_id", sa.String(length=32), nullable=False),
        sa.Column("pmid", sa.String(length=16), nullable=False),
        sa.UniqueConstraint("tenant_id", "query_id", "pmid", name="uq_literature_analysis_query_articles"),
    )
    op.create_index("ix_literature_analysis_query_articles_tenant_id", ARTICLES, ["tenant_id"])
    op.create_index("ix_literature_analysis_query_articles_query_id", ARTICLES, ["query_id"])


def downgrade() -> None:
    op.drop_index("ix_literature_analysis_query_articles_query_id", table_name=ARTICLES)
    op.drop_index("ix_literature_analysis_query_articles_tenant_id", table_name=ARTICLES)
    op.drop_table(ARTICLES)
    op.drop_index("ix_literature_analysis_saved_queries_tenant_id", table_name=TABLE)
    op.drop_table(TABLE)
