"""Cohere North / Command A 2026's prompts (`cohere`; Ollama's `model/renderers/cohere.go`): a
platform system turn with the first system message and an "Available Tools" JSON section, turns
of `<|START_TEXT|>` bodies, `<|START_THINKING|>` reasoning, `<|START_ACTION|>` tool calls and
`<|START_TOOL_RESULT|>` results, written with the chat template's own whitespace."""

from __future__ import annotations

from typing import Any

from ollama_toolkit.renderers.base import (
    Messages,
    Renderer,
    Think,
    Tools,
    go_json,
    go_tool,
    spaced_arguments,
)

BOS = "<BOS_TOKEN>"
SYSTEM_TURN = "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>"
USER_TURN = "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>"
CHATBOT_TURN = "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"
END_TURN = "<|END_OF_TURN_TOKEN|>"


def tool_json(tool: dict[str, Any]) -> str:
    """One tool as the template's `tojson` writes it."""
    function = go_tool(tool)["function"]
    return (
        f'{{"name": {go_json(function["name"])}, '
        f'"description": {go_json(function.get("description") or "")}, '
        f'"parameters": {go_json(function["parameters"], spaced=True)}, "responses": null}}'
    )


def tools_section(tools: Tools) -> str:
    """The "# Available Tools" block, with the template's whitespace with and without tools."""
    out = ["# Available Tools\n```json\n[\n"]
    if not tools:
        out.append("\n\n")
    for i, tool in enumerate(tools or ()):
        out.append("\n    " + tool_json(tool) + ("," if i < len(tools or ()) - 1 else "") + "\n\n")
    out.append("\n]\n```")
    return "".join(out)


def tool_result(call_id: str, content: str) -> str:
    """One entry of a `<|START_TOOL_RESULT|>` array."""
    return (
        f'\n    {{\n        "tool_call_id": "{call_id}",\n        "results": {{\n\n'
        f'            \n            "0": {go_json({"content": content}, spaced=True)}\n\n'
        '        },\n        "is_error": null\n    }'
    )


class CohereRenderer(Renderer):
    leading_bos = BOS

    def render(self, messages: Messages, tools: Tools, think: Think) -> str:
        # The template reasons unless told not to.
        reasoning = think is None or bool(think)
        system = ""
        rest = messages
        if messages and (messages[0].get("role") or "").lower() == "system":
            system = messages[0].get("content") or ""
            rest = messages[1:]
        out = [SYSTEM_TURN, "<|START_TEXT|>"]
        if system:
            out.append(system + "\n\n\n\n")
        out.append(tools_section(tools))
        out.append("<|END_TEXT|>" + END_TURN)

        # Call ids become sequential indices over the whole conversation (the template's
        # regen_tool_call_ids); a result names its call's index, or its own id when no call
        # had it.
        call_index = 0
        indices: dict[str, str] = {}
        prefill = False
        i = 0
        while i < len(rest):
            message = rest[i]
            role = (message.get("role") or "").lower()
            content = message.get("content") or ""
            thinking = message.get("thinking") or ""
            if role == "system":
                out.append(f"{SYSTEM_TURN}<|START_TEXT|>{content}<|END_TEXT|>{END_TURN}")
            elif role == "user":
                out.append(f"{USER_TURN}<|START_TEXT|>{content}<|END_TEXT|>{END_TURN}")
            elif role in ("assistant", "chatbot"):
                out.append(CHATBOT_TURN)
                calls = message.get("tool_calls") or []
                if calls:
                    # The template's untrimmed blocks leave this whitespace before the action.
                    out.append("\n            \n                ")
                    if thinking:
                        out.append(f"<|START_THINKING|>{thinking}<|END_THINKING|>")
                    entries = []
                    for call in calls:
                        call_id = call.get("id") or ""
                        index = str(call_index)
                        call_index += 1
                        if call_id and call_id not in indices:
                            indices[call_id] = index
                        function = call.get("function") or {}
                        entries.append(
                            f'\n\n    {{"tool_call_id": "{index}", '
                            f'"tool_name": "{function.get("name") or ""}", '
                            f'"parameters": {spaced_arguments(function.get("arguments") or {})}}}'
                        )
                    out.append("<|START_ACTION|>[" + ",".join(entries) + "\n\n]<|END_ACTION|>")
                    out.append(END_TURN)
                else:
                    if thinking:
                        out.append(f"<|START_THINKING|>{thinking}<|END_THINKING|>")
                    out.append("<|START_TEXT|>" + content)
                    if i == len(rest) - 1:
                        prefill = True  # left open for the model to continue
                    else:
                        out.append("<|END_TEXT|>" + END_TURN)
            elif role == "tool":
                # Consecutive tool messages share one result array.
                results = []
                while True:
                    call_id = rest[i].get("tool_call_id") or ""
                    results.append(
                        tool_result(indices.get(call_id, call_id), rest[i].get("content") or "")
                    )
                    if i + 1 < len(rest) and (rest[i + 1].get("role") or "").lower() == "tool":
                        i += 1
                        continue
                    break
                out.append(f"{SYSTEM_TURN}<|START_TOOL_RESULT|>[" + ",".join(results))
                out.append("\n\n]<|END_TOOL_RESULT|>" + END_TURN)
            i += 1
        if not prefill:
            out.append(CHATBOT_TURN + "<|START_THINKING|>")
            if not reasoning:
                out.append("<|END_THINKING|>")
        return "".join(out)
