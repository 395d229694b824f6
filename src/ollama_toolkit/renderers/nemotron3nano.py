"""Nemotron 3 Nano's prompts (`nemotron-3-nano`, `nemotron-3.5-nano`; Ollama's
`model/renderers/nemotron3nano.go`): ChatML with the tools as XML-like `<function>` blocks in
the system turn, tool calls as Qwen3-Coder's `<tool_call><function=…><parameter=…>` blocks,
tool results as `<tool_response>` blocks grouped in one user turn, and each assistant turn
opened by its thinking (`<think>…</think>`, emptied for turns before the last user message).

Nemotron 3 reads `/think` and `/no_think` in user and system messages as toggles (and deletes
them); 3.5 leaves them as text, keeps the thinking's layout tighter and marks the last user
message when `think` is "medium"."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.renderers.base import (
    Messages,
    Renderer,
    Think,
    Tools,
    content_with_image_tags,
    go_json,
    go_value,
)
from ollama_toolkit.template.gostrings import quote

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
EMPTY_THINK = THINK_OPEN + THINK_CLOSE
MEDIUM_EFFORT = "\n\n{reasoning effort: efficient}"

TOOLS_HEAD = "# Tools\n\nYou have access to the following functions:\n\n<tools>"
TOOLS_TAIL = (
    "\n</tools>\n\nIf you choose to call a function ONLY reply in the following format with NO "
    "suffix:\n\n<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>"
    "\nvalue_1\n</parameter>\n<parameter=example_parameter_2>\nThis is the value for the second "
    "parameter\nthat can span\nmultiple lines\n</parameter>\n</function>\n</tool_call>\n\n"
    "<IMPORTANT>\nReminder:\n- Function calls MUST follow the specified format: an inner "
    "<function=...></function> block must be nested within <tool_call></tool_call> XML tags\n"
    "- Required parameters MUST be specified\n- You may provide optional reasoning for your "
    "function call in natural language BEFORE the function call, but NOT after\n- If there is "
    "no function call available, answer the question like normal with your current knowledge "
    "and do not tell the user about function calls\n</IMPORTANT>"
)


def python_json(value: Any) -> str:
    """A JSON value as the chat template's `tojson` writes it (Ollama's `pythonJSON`): a space
    after each `:` and `,`, strings quoted as Go's `strconv.Quote` quotes them, objects (Go
    maps) in key order."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (bool, int, float)):
        return go_json(value)
    if isinstance(value, list):
        return "[" + ", ".join(python_json(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{quote(k)}: {python_json(value[k])}" for k in sorted(value))
        return "{" + ", ".join(items) + "}"
    return go_json(value)


def _types(prop: dict[str, Any]) -> list[str]:
    """A property's `type`, a name or a list of them, as Ollama's `PropertyType` list."""
    kind = prop.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    return [kind] if kind else []


def property_json(prop: Any) -> str:
    """A schema property as Ollama's `api.ToolProperty` holds it: only its known fields, in the
    struct's order, nested properties in their own order."""
    if not isinstance(prop, dict):
        return python_json(prop)
    parts = []
    if prop.get("anyOf"):
        parts.append('"anyOf": [' + ", ".join(property_json(p) for p in prop["anyOf"]) + "]")
    kind = _types(prop)
    if kind:
        parts.append('"type": ' + python_json(kind[0] if len(kind) == 1 else kind))
    if prop.get("items") is not None:
        parts.append('"items": ' + python_json(prop["items"]))
    if prop.get("description"):
        parts.append('"description": ' + python_json(prop["description"]))
    if prop.get("enum"):
        parts.append('"enum": ' + python_json(prop["enum"]))
    if prop.get("properties") is not None:
        parts.append('"properties": ' + properties_json(prop["properties"]))
    if prop.get("required"):
        parts.append('"required": ' + python_json(prop["required"]))
    return "{" + ", ".join(parts) + "}"


def properties_json(properties: dict[str, Any]) -> str:
    """A `properties` map (Ollama keeps its order)."""
    return "{" + ", ".join(f"{quote(k)}: {property_json(v)}" for k, v in properties.items()) + "}"


def template_value(value: Any) -> str:
    """A value as the template prints it: containers as `tojson`, other values as Python's
    `str()` (True, False, None)."""
    if value is None:
        return "None"
    if isinstance(value, (dict, list)):
        return python_json(value)
    if isinstance(value, bool):
        return "True" if value else "False"
    return go_value(value)


def strip_think_toggles(text: str) -> str:
    """`text` without the `/think` and `/no_think` toggles the template deletes once read,
    keeping a real `</think>` (which contains `/think`)."""
    text = text.replace(THINK_CLOSE, "<_end_think>")
    text = text.replace("/think", "").replace("/no_think", "")
    return text.replace("<_end_think>", THINK_CLOSE)


class Nemotron3NanoRenderer(Renderer):
    def __init__(self, v35: bool = False) -> None:
        self.v35 = v35

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        thinking = self._thinking(messages, think)
        medium = self.v35 and isinstance(think, str) and think == "medium"
        system = ""
        rest = messages
        if messages and messages[0].get("role") == "system":
            system = messages[0].get("content") or ""
            if not self.v35:
                system = strip_think_toggles(system)
            rest = messages[1:]
        last_user = max((i for i, m in enumerate(rest) if m.get("role") == "user"), default=-1)

        out = ["<|im_start|>system\n", system]
        if tools:
            if system:
                out.append("\n\n")
            out.append(render_tools(tools))
        out.append("<|im_end|>\n")

        images = 0
        for i, m in enumerate(rest):
            role = m.get("role") or ""
            if role == "assistant":
                content = self._assistant_content(m)
                # Thinking is kept only for the turns after the last user message.
                truncate = i < last_user
                out.append("<|im_start|>assistant\n")
                if m.get("tool_calls"):
                    out.append(_tool_call_content(content, truncate))
                    out.extend(_tool_call(call) for call in m["tool_calls"])
                else:
                    out.append(_assistant_content(content, truncate))
                out.append("<|im_end|>\n")
            elif role in ("user", "system"):
                count = len(m.get("images") or ())
                content, _ = content_with_image_tags(m.get("content") or "", count, images)
                images += count
                if not self.v35:
                    content = strip_think_toggles(content).strip()
                elif role == "user" and i == last_user and medium:
                    content += MEDIUM_EFFORT
                out.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
            elif role == "tool":
                count = len(m.get("images") or ())
                content, _ = content_with_image_tags(m.get("content") or "", count, images)
                images += count
                # Consecutive results share one user turn; a result with nothing before it
                # opens none.
                if i > 0 and rest[i - 1].get("role") != "tool":
                    out.append("<|im_start|>user\n")
                out.append(f"<tool_response>\n{content}\n</tool_response>\n")
                if not (i + 1 < len(rest) and rest[i + 1].get("role") == "tool"):
                    out.append("<|im_end|>\n")
            else:
                out.append(f"<|im_start|>{role}\n{m.get('content') or ''}<|im_end|>\n")

        out.append("<|im_start|>assistant\n" + ("<think>\n" if thinking else EMPTY_THINK))
        return "".join(out)

    def _thinking(self, messages: Messages, think: Think) -> bool:
        """Whether the answer opens thinking: `think` (on when unset), and for Nemotron 3 the
        last `/think` or `/no_think` written in a user or system message."""
        enabled = think is None or bool(think)
        if self.v35:
            return enabled
        for m in messages:
            if m.get("role") not in ("user", "system"):
                continue
            content = m.get("content") or ""
            if "/think" in content.replace(THINK_CLOSE, ""):
                enabled = True
            elif "/no_think" in content:
                enabled = False
        return enabled

    def _assistant_content(self, message: dict[str, Any]) -> str:
        """An assistant turn's content opened by its thinking (an empty think block when it
        has none and its content has no think tags of its own)."""
        content = message.get("content") or ""
        thinking = message.get("thinking") or ""
        if thinking:
            if self.v35:
                return f"<think>\n{thinking}</think>{content}"
            return f"<think>\n{thinking}\n</think>\n{content}"
        if THINK_OPEN not in content and THINK_CLOSE not in content:
            return EMPTY_THINK + content
        return content


def _assistant_content(content: str, truncate: bool) -> str:
    if truncate and THINK_OPEN in content and THINK_CLOSE in content:
        content = EMPTY_THINK + content.split(THINK_CLOSE)[-1]
    return content.strip()


def _tool_call_content(content: str, truncate: bool) -> str:
    if not content.strip():
        return EMPTY_THINK
    if not truncate:
        return content.strip() + "\n"
    if THINK_CLOSE in content:
        content = content.split(THINK_CLOSE)[-1]
    elif THINK_OPEN in content:
        content = content.split(THINK_OPEN)[0]
    return (EMPTY_THINK + content.strip()).strip() + "\n"


def _tool_call(call: dict[str, Any]) -> str:
    function = call.get("function") or {}
    out = [f"<tool_call>\n<function={function.get('name') or ''}>\n"]
    for name, value in (function.get("arguments") or {}).items():
        out.append(f"<parameter={name}>\n{template_value(value)}\n</parameter>\n")
    out.append("</function>\n</tool_call>\n")
    return "".join(out)


def render_tools(tools: list[dict[str, Any]]) -> str:
    """The system turn's `# Tools` section."""
    out = [TOOLS_HEAD]
    for tool in tools:
        function = tool.get("function") or {}
        params = function.get("parameters") or {}
        out.append(f"\n<function>\n<name>{function.get('name') or ''}</name>")
        if function.get("description"):
            out.append(f"\n<description>{function['description'].strip()}</description>")
        out.append("\n<parameters>")
        for name, prop in (params.get("properties") or {}).items():
            prop = prop if isinstance(prop, dict) else {}
            out.append(f"\n<parameter>\n<name>{name}</name>")
            kind = _types(prop)
            if kind:
                shown = kind[0] if len(kind) == 1 else "[" + ", ".join(f"'{k}'" for k in kind) + "]"
                out.append(f"\n<type>{shown}</type>")
            if prop.get("description"):
                out.append(f"\n<description>{prop['description'].strip()}</description>")
            if prop.get("enum"):
                out.append(f"\n<enum>{python_json(prop['enum'])}</enum>")
            if prop.get("anyOf"):
                anyof = ", ".join(property_json(p) for p in prop["anyOf"])
                out.append(f"\n<anyOf>[{anyof}]</anyOf>")
            if prop.get("items") is not None:
                out.append(f"\n<items>{python_json(prop['items'])}</items>")
            if prop.get("properties") is not None:
                out.append(f"\n<properties>{properties_json(prop['properties'])}</properties>")
            if prop.get("required"):
                out.append(f"\n<required>{python_json(prop['required'])}</required>")
            out.append("\n</parameter>")
        if params.get("$defs") is not None:
            out.append(f"\n<$defs>{template_value(params['$defs'])}</$defs>")
        if params.get("items") is not None:
            out.append(f"\n<items>{template_value(params['items'])}</items>")
        if params.get("required"):
            out.append(f"\n<required>{python_json(params['required'])}</required>")
        out.append("\n</parameters>\n</function>")
    out.append(TOOLS_TAIL)
    return "".join(out)


class Nemotron35NanoRenderer(Nemotron3NanoRenderer):
    def __init__(self) -> None:
        super().__init__(v35=True)
