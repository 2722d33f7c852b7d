"""The agent loop that turns one user message into an answer."""

from moesaic.agent.loop import Agent, AgentEvent, AgentResult, TextDelta, ToolEvent

__all__ = ["Agent", "AgentEvent", "AgentResult", "TextDelta", "ToolEvent"]
