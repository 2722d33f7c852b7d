"""The app contract: ``AppManifest`` and what the platform hands an app (``AppContext``, ``ToolContext``).

Public surface for app authors (see docs/APPS.md): the manifest and its parts (``Evaluation``,
``MissingData``, ``OfflineBehaviour``, ``RuleCall``), the contexts, and the helpers that reach them
from route and command code (``AppContextDep``, ``TenantIdDep``, ``command_context``, and
``error_responses`` to document a route's own 4xx in the OpenAPI schema). The platform
side (``load_apps``, ``AppRegistry``) is here too. Nothing in this package serves HTTP or runs jobs.
"""

from moesaic.answers.policy import AnswerCachePolicy  # a manifest part (``AppManifest.answer_cache``)
from moesaic.apps.context import AppContext, Erasure, ToolContext
from moesaic.errors import error_responses  # ``responses=`` for an app route's own errors (OpenAPI)
from moesaic.json_numbers import NotBoolean  # request-body numbers as the OpenAPI schema means them
from moesaic.apps.evaluation import Evaluation, MissingData, check_floors, load_floors
from moesaic.apps.folders import is_safe_id, tenant_folder  # an app's own files: home/app/tenant
from moesaic.apps.manifest import AppManifest
from moesaic.apps.registry import ENTRY_POINT_GROUP, AppRegistry, check_app, load_apps, migration_folders
from moesaic.apps.routing import AppContextDep, ResourceCheck, ResourceCheckDep, TenantIdDep, command_context
from moesaic.llm.offline import DialogueStep, DialogueTurn, OfflineBehaviour, RuleCall, ToolOutcome
from moesaic.models import ShippedModel  # a manifest part (``AppManifest.models``)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AnswerCachePolicy",
    "NotBoolean",
    "AppContext",
    "AppContextDep",
    "AppManifest",
    "AppRegistry",
    "Erasure",
    "DialogueStep",
    "DialogueTurn",
    "Evaluation",
    "MissingData",
    "OfflineBehaviour",
    "ResourceCheck",
    "ResourceCheckDep",
    "RuleCall",
    "ShippedModel",
    "TenantIdDep",
    "ToolContext",
    "ToolOutcome",
    "check_app",
    "check_floors",
    "command_context",
    "error_responses",
    "is_safe_id",
    "load_apps",
    "load_floors",
    "migration_folders",
    "tenant_folder",
]
