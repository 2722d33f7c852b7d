"""Who may do what: principals (keys and console accounts), roles, route declarations, the audit log.

The gate that enforces this on HTTP lives in ``moesaic.api.gate``; apps use ``access`` to declare what
their routes own and ``Principal`` to read who is calling.
"""

from moesaic.access.accounts import AccountInfo, create_account, disable_account, get_account, list_accounts, sign_in
from moesaic.access.audit import AuditEntry, entries, record, record_in, record_request_in
from moesaic.access.declaration import access
from moesaic.access.keys import (
    DEFAULT_TENANT,
    KeyInfo,
    authenticate,
    create_api_key,
    ensure_tenant,
    find_tenant,
    get_key,
    issue_key,
    list_keys,
    revoke_key,
    rotate_key,
)
from moesaic.access.principal import ROLES, Principal, Role

__all__ = [
    "DEFAULT_TENANT", "ROLES", "AccountInfo", "AuditEntry", "KeyInfo", "Principal", "Role", "access", "authenticate",
    "create_account", "create_api_key", "disable_account", "ensure_tenant", "entries", "find_tenant", "get_account", "get_key", "issue_key", "list_accounts",
    "list_keys", "record", "record_in", "record_request_in", "revoke_key", "rotate_key", "sign_in",
]
