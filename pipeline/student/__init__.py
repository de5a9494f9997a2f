"""Student LMs: tokenizer, model, training, export and evaluation (see docs/design.md)."""

from .model import LADDER, ModelConfig, flops_per_token, non_embedding_params, total_params

__all__ = ["LADDER", "ModelConfig", "flops_per_token", "non_embedding_params", "total_params"]
