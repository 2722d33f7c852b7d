"""``@tool``: a typed Python function becomes a ``ToolSpec`` the model can call.

The JSON schema comes from the signature (through pydantic) and the docstring: its first paragraph
is the description, and an ``Args:`` section describes each parameter. Arguments are validated
before the call. This module does not run tools for a conversation; ``tools.execute`` does.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from moesaic.errors import ToolError

_ARG_LINE = re.compile(r"^\s{2,}(\w+)\s*(?:\([^)]*\))?:\s*(.*)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Return (description, {param: description}) from a Google-style docstring."""
    doc = inspect.cleandoc(doc or "")
    sections = re.split(r"^(Args|Arguments|Returns|Raises):\s*$", doc, flags=re.MULTILINE)
    description = sections[0].strip()
    params: dict[str, str] = {}
    for header, body in zip(sections[1::2], sections[2::2]):
        if header not in ("Args", "Arguments"):
            continue
        current = None
        for line in body.splitlines():
            match = _ARG_LINE.match(line)
            if match:
                current = match.group(1)
                params[current] = match.group(2).strip()
            elif current and line.strip():
                params[current] += " " + line.strip()
    return description, params


@dataclass(frozen=True)
class ToolSpec:
    """A callable tool: name, description, argument model and whether it writes state."""

    name: str
    description: str
    function: Callable[..., Any]
    arguments_model: type[BaseModel]
    writes: bool = False
    context_params: tuple[str, ...] = field(default=())
    # Conversation-scoped identity (``moesaic.identity``): the agent loop refuses the call until the
    # conversation has an authenticated subject, and when ``owner(ctx, arguments)`` names another one.
    requires_identity: bool = False
    owner: Callable[[Any, dict[str, Any]], str | None] | None = None

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as the OpenAI ``tools`` field wants it."""
        schema = self.arguments_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema.setdefault("required", [])
        return schema

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def parse_arguments(self, arguments: str | dict[str, Any]) -> dict[str, Any]:
        """Validate raw arguments; raise ToolError with a message the model can act on."""
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise ToolError(f"arguments for {self.name} are not valid JSON: {exc.msg}") from exc
        if not isinstance(arguments, dict):
            raise ToolError(f"arguments for {self.name} must be a JSON object")
        try:
            model = self.arguments_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolError(f"invalid arguments for {self.name}: {problems}") from exc
        return {name: getattr(model, name) for name in type(model).model_fields}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)


def tool(
    function: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    writes: bool = False,
    context: tuple[str, ...] = ("ctx",),
    requires_identity: bool = False,
    owner: Callable[[Any, dict[str, Any]], str | None] | None = None,
) -> Any:
    """Turn a typed function into a ``ToolSpec``.

    ``writes=True`` marks a tool that changes state: the agent loop asks the user to confirm first.
    Parameters named in ``context`` (default ``ctx``) are supplied by the platform, not the model.
    ``requires_identity=True``: the agent loop runs the tool only once the conversation has an
    authenticated subject; ``owner(ctx, arguments)`` returns the subject owning the record the arguments
    name (None: not found), and a call on another subject's record is refused (``moesaic.identity``).
    """

    def wrap(fn: Callable[..., Any]) -> ToolSpec:
        description, param_docs = _parse_docstring(fn.__doc__ or "")
        if not description:
            raise TypeError(f"tool {fn.__name__} needs a docstring: it is what the model reads")
        hints = get_type_hints(fn)
        fields: dict[str, Any] = {}
        context_params = []
        for param in inspect.signature(fn).parameters.values():
            if param.name in context:
                context_params.append(param.name)
                continue
            if param.name not in hints:
                raise TypeError(f"tool {fn.__name__}: parameter {param.name} needs a type annotation")
            default = ... if param.default is inspect.Parameter.empty else param.default
            from pydantic import Field

            fields[param.name] = (hints[param.name], Field(default, description=param_docs.get(param.name)))
        model = create_model(  # type: ignore[call-overload]
            f"{fn.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )
        return ToolSpec(
            name=name or fn.__name__,
            description=description,
            function=fn,
            arguments_model=model,
            writes=writes,
            context_params=tuple(context_params),
            requires_identity=requires_identity or owner is not None,
            owner=owner,
        )

    return wrap(function) if function is not None else wrap
