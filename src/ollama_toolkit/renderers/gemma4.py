"""Gemma 4's prompts (`gemma4`, `gemma4-small`, `gemma4-large`), ported from Ollama's
`model/renderers/gemma4.go`: `<|turn>role … <turn|>` turns, a system turn that carries the
thinking switch (`<|think|>`) and the tools declared in Gemma's own notation
(`<|tool>declaration:name{description:<|"|>…<|"|>,parameters:{…}}<tool|>`), calls written
`<|tool_call>call:name{key:value,…}<tool_call|>` and their results folded into the same model
turn as `<|tool_response>response:name{value:<|"|>…<|"|>}<tool_response|>`. Strings sit
between `<|"|>` marks. The large models' template (`gemma4-large`) also opens and closes an
empty thought channel when thinking is off."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.renderers.base import (
    Messages,
    Renderer,
    Think,
    Tools,
    content_with_image_tags,
    go_value,
    think_enabled,
)
from ollama_toolkit.renderers.functiongemma import parameters_text

Q = '<|"|>'  # Gemma 4's string delimiter
CHANNEL_OPEN = "<|channel>"
CHANNEL_CLOSE = "<channel|>"
# Keys a schema object has for itself: never read as the names of properties.
_SCHEMA_KEYS = frozenset(("description", "type", "properties", "required", "nullable"))


class Gemma4Renderer(Renderer):
    leading_bos = "<bos>"

    def __init__(self, use_img_tags: bool = True, empty_block_on_nothink: bool = False) -> None:
        self.use_img_tags = use_img_tags
        self.empty_block_on_nothink = empty_block_on_nothink

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        # Gemma 4's tokenizer does not add BOS itself (add_bos_token=false): the prompt has it.
        out = ["<bos>"]
        self._image_offset = 0
        has_system = bool(messages) and messages[0].get("role") in ("system", "developer")
        system = (messages[0].get("content") or "") if has_system else ""
        loop = messages[1:] if has_system else messages

        has_think = think_enabled(think)
        if has_system or tools or has_think:
            out.append("<|turn>system\n")
            if has_think:
                out.append("<|think|>\n")
            out.append(system.strip())
            out.extend(declaration(tool) for tool in tools or ())
            out.append("<turn|>\n")

        last_user = max((i for i, m in enumerate(loop) if m.get("role") == "user"), default=-1)
        previous = ""
        previous_role = ""
        for i, m in enumerate(loop):
            # Tool results are written inside the turn of the calls they answer.
            if m.get("role") == "tool":
                continue
            previous = ""
            role = "model" if m.get("role") == "assistant" else str(m.get("role") or "")
            # Adjacent assistant messages continue the same model turn.
            if not (role == "model" and previous_role == "assistant"):
                out.append(f"<|turn>{role}\n")
            thinking = m.get("thinking") or ""
            # Thinking is kept only after the last user message (the turn in progress).
            if role == "model" and thinking and i > last_user:
                out.append(f"{CHANNEL_OPEN}thought\n{thinking}\n{CHANNEL_CLOSE}")

            calls = m.get("tool_calls") or []
            for call in calls:
                out.append(tool_call_text(call))
                previous = "tool_call"
            responded = False
            if calls:
                k = i + 1
                while k < len(loop) and loop[k].get("role") == "tool":
                    response = self._content(loop[k], trim=False)
                    name = _response_name(loop[k], calls)
                    out.append(
                        f"<|tool_response>response:{name}{{value:{arg_value(response)}}}"
                        "<tool_response|>"
                    )
                    responded = True
                    previous = "tool_response"
                    k += 1

            content = m.get("content") or ""
            images = len(m.get("images") or ())
            had_content = False
            if role == "model":
                if content or images:
                    content = strip_thinking(content)
                    out.append(self._content({**m, "content": content}, trim=False))
                    had_content = bool(content.strip()) or images > 0
            else:
                out.append(self._content(m, trim=True))
                had_content = bool(content.strip()) or images > 0

            next_role = next((n.get("role") for n in loop[i + 1 :] if n.get("role") != "tool"), "")
            continues = role == "model" and next_role == "assistant" and (not calls or responded)
            if previous == "tool_call" and not responded:
                # A call still waiting for its result: the prompt opens the result block.
                out.append("<|tool_response>")
            elif not continues and not (responded and not had_content and next_role == ""):
                out.append("<turn|>\n")
            previous_role = str(m.get("role") or "")

        if previous not in ("tool_response", "tool_call"):
            out.append("<|turn>model\n")
            if self.empty_block_on_nothink and not has_think:
                out.append(f"{CHANNEL_OPEN}thought\n{CHANNEL_CLOSE}")
        elif previous == "tool_response" and has_think:
            out.append(f"{CHANNEL_OPEN}thought\n")
        return "".join(out)

    def _content(self, m: dict[str, Any], trim: bool) -> str:
        """A message's content (trimmed, as the template's `| trim`), with its image tags."""
        content = m.get("content") or ""
        if trim:
            content = content.strip()
        images = len(m.get("images") or ())
        if images and self.use_img_tags:
            content, self._image_offset = content_with_image_tags(
                content, images, self._image_offset
            )
        return content


class Gemma4LargeRenderer(Gemma4Renderer):
    """The 26B/31B models' template: an empty thought block when thinking is off."""

    def __init__(self, use_img_tags: bool = True) -> None:
        super().__init__(use_img_tags=use_img_tags, empty_block_on_nothink=True)


def strip_thinking(text: str) -> str:
    """`text` without its `<|channel>…<channel|>` blocks (an unclosed one drops the rest),
    trimmed: the template's strip_thinking macro."""
    out = []
    while True:
        start = text.find(CHANNEL_OPEN)
        if start == -1:
            out.append(text)
            break
        out.append(text[:start])
        end = text.find(CHANNEL_CLOSE, start)
        if end == -1:
            break
        text = text[end + len(CHANNEL_CLOSE) :]
    return "".join(out).strip()


def _response_name(message: dict[str, Any], calls: list[dict[str, Any]]) -> str:
    """The tool a result answers: its call's, by id, else its `tool_name`, else "unknown"."""
    name = str(message.get("tool_name") or "unknown")
    call_id = message.get("tool_call_id")
    if call_id:
        for call in calls:
            if call.get("id") == call_id:
                return str((call.get("function") or {}).get("name") or "")
    return name


def tool_call_text(call: dict[str, Any]) -> str:
    function = call.get("function") or {}
    arguments = function.get("arguments") or {}
    args = ",".join(f"{k}:{arg_value(arguments[k])}" for k in sorted(arguments))
    return f"<|tool_call>call:{function.get('name') or ''}{{{args}}}<tool_call|>"


def arg_value(value: Any) -> str:
    """A call's argument in Gemma's notation: strings quoted, object keys bare and sorted."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{arg_value(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(arg_value(v) for v in value) + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return Q + value + Q
    if isinstance(value, float) and value.is_integer() and -(2**63) <= value < 2**63:
        return str(int(value))  # Go's `%d` of a whole float64
    return go_value(value)


def _schema_value(value: Any) -> str:
    """A value of an array's `items` schema (a key Gemma has no notation for): as a call's
    argument, but an object's keys quoted."""
    if isinstance(value, dict):
        items = (f"{Q}{k}{Q}:{_schema_value(value[k])}" for k in sorted(value))
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_schema_value(v) for v in value) + "]"
    return _scalar(value)


# Tool declarations.


def declaration(tool: dict[str, Any]) -> str:
    function = tool.get("function") or {}
    params = function.get("parameters") or {}
    out = [
        f"<|tool>declaration:{function.get('name') or ''}{{"
        f"description:{Q}{function.get('description') or ''}{Q}"
    ]
    out.append(parameters_text(params, lambda p: _properties(_typed_properties(p)), Q))
    out.append("}<tool|>")
    return "".join(out)


def _required(names: list[Any]) -> str:
    return "required:[" + ",".join(f"{Q}{n}{Q}" for n in names) + "]"


def _type_list(kind: Any) -> list[str]:
    """A JSON schema `type` as Ollama's `api.PropertyType`: one name or a list."""
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return []


def _typed_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """A tool's properties as Ollama reads them into `api.ToolProperty` (only the fields it
    knows), their types in the form the template writes."""
    return {k: _typed_property(v if isinstance(v, dict) else {}) for k, v in properties.items()}


def _typed_property(prop: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    types = _type_list(prop.get("type")) or _simple_any_of(prop)
    if types:
        out["type"] = _typed_type(types)
    if prop.get("description"):
        out["description"] = prop["description"]
    if prop.get("enum"):
        out["enum"] = prop["enum"]
    if prop.get("items") is not None:
        out["items"] = prop["items"]
    if isinstance(prop.get("properties"), dict):
        out["properties"] = _typed_properties(prop["properties"])
    if prop.get("required"):
        out["required"] = prop["required"]
    return out


def _typed_type(types: list[str]) -> str:
    """A union is written as the template stringifies an upper-cased list (odd, but what the
    model was trained on): `['STRING', 'NULL']`."""
    if len(types) == 1:
        return types[0]
    return "[" + ", ".join(f"'{t.upper()}'" for t in types) + "]"


def _simple_any_of(prop: dict[str, Any]) -> list[str]:
    """An `anyOf` of bare types (`{"type": …}` and nothing else) as a union of those types:
    Gemma's notation has no anyOf."""
    out: list[str] = []
    for branch in prop.get("anyOf") or ():
        if not isinstance(branch, dict):
            return []
        types = _type_list(branch.get("type"))
        bare = not any(branch.get(k) for k in ("anyOf", "description", "enum", "required")) and all(
            branch.get(k) is None for k in ("items", "properties")
        )
        if not bare or not types:
            return []
        out.extend(t for t in types if t not in out)
    return out


def _type_names(kind: Any) -> list[str]:
    return [t.upper() for t in _type_list(kind)]


def _properties(props: dict[str, Any]) -> str:
    """`name:{description:…,…,type:…}` for each property, in name order."""
    out = []
    for name in sorted(props):
        prop = props[name]
        if name in _SCHEMA_KEYS or not isinstance(prop, dict):
            continue
        parts = []
        description = prop.get("description")
        if isinstance(description, str) and description:
            parts.append(f"description:{Q}{description}{Q}")
        types = _type_names(prop.get("type"))
        first = types[0] if types else ""
        if first == "STRING":
            enum = prop.get("enum")
            if isinstance(enum, list) and enum:
                parts.append("enum:[" + ",".join(f"{Q}{go_value(v)}{Q}" for v in enum) + "]")
        elif first == "ARRAY":
            items = prop.get("items")
            if isinstance(items, dict) and items:
                parts.append("items:{" + _items(items) + "}")
        if prop.get("nullable") is True:
            parts.append("nullable:true")
        if first == "OBJECT":
            nested = prop.get("properties")
            # Without properties of its own, the template reads the object's other keys.
            parts.append(
                "properties:{" + _properties(nested if isinstance(nested, dict) else prop) + "}"
            )
            required = _strings(prop.get("required"))
            if required:
                parts.append(_required(required))
        if types:
            parts.append(_type_text(types))
        out.append(f"{name}:{{" + ",".join(parts) + "}")
    return ",".join(out)


def _type_text(types: list[str]) -> str:
    if len(types) == 1:
        return f"type:{Q}{types[0]}{Q}"
    return "type:[" + ",".join(f"{Q}{t}{Q}" for t in types) + "]"


def _items(items: dict[str, Any]) -> str:
    """An array's `items` schema, its keys in order."""
    out = []
    for key in sorted(items):
        value = items[key]
        if value is None:
            continue
        if key == "properties":
            out.append(
                "properties:{" + (_properties(value) if isinstance(value, dict) else "") + "}"
            )
        elif key == "required":
            out.append(_required(_strings(value)))
        elif key == "type":
            types = _type_names(value)
            # No type names: Ollama writes nothing, but keeps the comma before it.
            out.append(_type_text(types) if types else "")
        else:
            out.append(f"{key}:{_schema_value(value)}")
    return ",".join(out)


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
