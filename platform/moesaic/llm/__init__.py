"""Chat model providers behind one small interface."""

from moesaic.config import Settings
from moesaic.llm.base import ChatModel, ModelReply, ModelRequest
from moesaic.llm.extractive import ExtractiveModel
from moesaic.llm.fake import FakeChatModel
from moesaic.llm.offline import OfflineBehaviour, RuleCall


def create_chat_model(settings: Settings) -> ChatModel:
    """The configured model: an OpenAI-compatible endpoint if one is set, else ``extractive``."""
    if settings.llm_base_url:
        from moesaic.llm.openai_compat import OpenAIChatModel

        return OpenAIChatModel(
            settings.llm_base_url,
            settings.llm_model or "default",
            settings.llm_api_key,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            tool_mode=settings.llm_tool_mode,
        )
    return ExtractiveModel()


__all__ = [
    "ChatModel", "ExtractiveModel", "FakeChatModel", "ModelReply", "ModelRequest", "OfflineBehaviour", "RuleCall",
    "create_chat_model",
]
