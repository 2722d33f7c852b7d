"""Versioned app models: what an app ships, what a tenant retrained, which version is active."""

from moesaic.models.registry import STATUSES, ModelRegistry, ModelVersion, ShippedModel

__all__ = ["STATUSES", "ModelRegistry", "ModelVersion", "ShippedModel"]
