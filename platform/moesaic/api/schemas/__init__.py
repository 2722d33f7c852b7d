"""Request and response bodies of the REST API, one module per resource (separate from the tables on purpose).

Response models refuse unknown fields (``ResponseModel``), so the documented contract and what
the routes send cannot drift apart silently.
"""

from moesaic.api.schemas.access import (
    AccountCreate,
    AccountList,
    AccountOut,
    AuditEntryOut,
    AuditList,
    AuditPrincipal,
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyOut,
    KeyRotate,
    PrincipalOut,
    SessionCreate,
    SessionOut,
)
from moesaic.api.schemas.apps import AppList, AppOut, ModelList, ModelOut
from moesaic.api.schemas.models import AppModelList, AppModelOut, ModelVersionOut, PromoteRequest
from moesaic.api.schemas.jobs import JobList, JobOut, JobProgress, JobState
from moesaic.api.schemas.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessageIn,
    FinishReason,
    StreamError,
    StreamOptions,
    ToolCallEvent,
)
from moesaic.api.schemas.common import (
    ErrorDetail,
    ErrorResponse,
    Health,
    Readiness,
    ReadinessChecks,
    ResponseModel,
    ValidationErrorResponse,
)
from moesaic.api.schemas.conversations import (
    Citation,
    ConversationCreate,
    ConversationList,
    ConversationOut,
    ConversationPage,
    ConversationState,
    HandoffRequest,
    InboxItem,
    InboxList,
    MessageList,
    MessageOut,
    OperatorMessage,
    SentenceSpan,
    ToolCallList,
    ToolCallOut,
)
from moesaic.api.schemas.knowledge import (
    DocumentList,
    DocumentOut,
    KnowledgeBaseList,
    KnowledgeBaseOut,
    SearchHit,
    SearchResults,
)

__all__ = [
    "AppModelList",
    "AppModelOut",
    "ModelVersionOut",
    "PromoteRequest",
    "JobList",
    "JobOut",
    "JobProgress",
    "JobState",
    "AccountCreate", "AccountList", "AccountOut", "AppList", "AppOut", "AuditEntryOut", "AuditList", "AuditPrincipal",
    "ChatCompletion", "ChatCompletionChunk", "ChatCompletionRequest", "ChatMessageIn", "Citation", "ConversationCreate",
    "ConversationList", "ConversationOut", "ConversationState", "DocumentList", "DocumentOut", "ErrorDetail",
    "ErrorResponse", "FinishReason", "HandoffRequest", "Health", "ConversationPage", "InboxItem", "InboxList", "KeyCreate", "KeyCreated",
    "KeyList", "KeyOut", "KeyRotate", "KnowledgeBaseList", "KnowledgeBaseOut", "MessageList", "MessageOut", "ModelList",
    "ModelOut", "OperatorMessage", "PrincipalOut", "Readiness", "ReadinessChecks", "ResponseModel", "SearchHit", "SearchResults", "SentenceSpan",
    "SessionCreate", "SessionOut", "StreamError", "StreamOptions", "ToolCallEvent", "ToolCallList", "ToolCallOut",
    "ValidationErrorResponse",
]
