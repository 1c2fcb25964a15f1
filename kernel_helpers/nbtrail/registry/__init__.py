"""The model registry: versions, aliases, promotion policy, signed approvals, rollback.

Every change is a fact on the trail's audit chain; the policy (``[tool.nbtrail.policy]``) is
evaluated against the trail's evidence at the moment of promotion and never bypassed.
"""

from ._approvals import (
    ApprovalRefused,
    approvals_of,
    approve,
    approver_roles,
    generate_key,
    verify_approvals,
)
from ._policy import AliasPolicy, PolicyReport, evaluate, known_checks, load_policies
from ._promote import PromotionRefused, promote, rollback
from ._versions import (
    ModelVersion,
    RegisteredModel,
    get_model,
    list_models,
    model_artifact,
    register,
    resolve,
    using_trail,
)

__all__ = [
    "AliasPolicy",
    "ApprovalRefused",
    "ModelVersion",
    "PolicyReport",
    "PromotionRefused",
    "RegisteredModel",
    "approvals_of",
    "approve",
    "approver_roles",
    "evaluate",
    "generate_key",
    "get_model",
    "known_checks",
    "list_models",
    "load_policies",
    "model_artifact",
    "promote",
    "register",
    "resolve",
    "rollback",
    "using_trail",
    "verify_approvals",
]
