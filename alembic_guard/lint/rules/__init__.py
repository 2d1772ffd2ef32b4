"""Every lint rule, one module each; importing this package registers them.

The tuple below is the whole rule set, in code order, so adding a rule is
adding one module and one line here.
"""

from __future__ import annotations

from . import (
    ban_alter_column_type_rewrite,
    ban_concurrently_in_transaction,
    ban_drop_column,
    ban_drop_table,
    ban_enum_value_in_transaction,
    ban_new_enum_value_use,
    ban_rename_column,
    ban_rename_table,
    ban_syntax_newer_than_server,
    ban_volatile_default,
    require_check_for_set_not_null,
    require_concurrent_index,
    require_default_for_not_null_column,
    require_idempotent_ddl,
    require_index_for_unique_constraint,
    require_lock_timeout,
    require_not_valid_check,
    require_not_valid_foreign_key,
    unused_suppression,
)

RULE_MODULES = (
    unused_suppression,
    require_concurrent_index,
    require_not_valid_foreign_key,
    require_not_valid_check,
    require_check_for_set_not_null,
    ban_volatile_default,
    ban_alter_column_type_rewrite,
    require_index_for_unique_constraint,
    require_lock_timeout,
    ban_drop_column,
    ban_drop_table,
    ban_rename_column,
    ban_rename_table,
    require_default_for_not_null_column,
    ban_concurrently_in_transaction,
    require_idempotent_ddl,
    ban_enum_value_in_transaction,
    ban_new_enum_value_use,
    ban_syntax_newer_than_server,
)
