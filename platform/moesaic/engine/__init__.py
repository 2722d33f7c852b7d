"""The Moesaic inference engine for the DeepSeek-V2/V3 family (V2-Lite, V3/R1, Moonlight, Kimi-K2).

Public surface: `LLM`, `SamplingParams`, `GenerationOutput`, `ContextLengthError`. The OpenAI-compatible
server lives in `moesaic.engine.server` and imports FastAPI lazily, so this package imports on machines
without it.
"""

from moesaic.engine.llm_engine import LLM, ContextLengthError, GenerationOutput
from moesaic.engine.sampling_params import SamplingParams

__all__ = ["LLM", "SamplingParams", "GenerationOutput", "ContextLengthError"]
