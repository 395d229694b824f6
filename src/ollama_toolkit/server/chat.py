"""POST /api/chat: messages rendered through the model's template (or built-in renderer), tool
calls and thinking (or the model's built-in parser)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from ollama_toolkit.api.errors import (
    InternalError,
    does_not_support,
    lacks_capability,
    model_required,
    top_logprobs_range,
)
from ollama_toolkit.api.options import Options
from ollama_toolkit.api.types import (
    ChatRequest,
    ChatResponse,
    DebugInfo,
    Logprob,
    Message,
    ThinkValue,
    ToolCall,
)
from ollama_toolkit.engine.runner import (
    DoneEvent,
    ErrorEvent,
    GenerateParams,
    ImageInput,
    PromptChunk,
    Runner,
    TokenEvent,
)
from ollama_toolkit.parsers.thinking import ThinkingParser
from ollama_toolkit.parsers.tools import ToolCallParser
from ollama_toolkit.server.body import parse_body
from ollama_toolkit.server.media import (
    check_images,
    chunks_length,
    decode_images,
    image_prompts,
    prompt_chunks,
    tag_images,
)
from ollama_toolkit.server.prepare import ServerState, fit_context, off_loop, prepare
from ollama_toolkit.server.prompt import (
    BuiltinReader,
    ChatTemplate,
    chat_prompt,
    conversation,
    preserved_tokens,
)
from ollama_toolkit.server.responses import get_state, respond


async def chat_route(request: Request) -> Response:
    req = parse_body(await request.body(), ChatRequest)
    chunks = chat(get_state(request), req)
    return await respond(chunks, req.stream is not False, fold_chat, request)


async def chat(state: ServerState, req: ChatRequest) -> AsyncGenerator[ChatResponse, None]:
    """Validate, load, render, run: yields response chunks (the last one has done=True).

    As for generate, whatever can be refused is refused before the first chunk.
    """
    started = time.perf_counter()
    if not 0 <= req.top_logprobs <= 20:
        raise top_logprobs_range()
    if not req.model:
        raise model_required()
    job = prepare(state, req.model, req.options, req.keep_alive)
    if not req.messages and req.keep_alive is not None and job.keep_alive == 0:
        await state.scheduler.unload_model(job.spec)
        yield ChatResponse(model=req.model, done=True, done_reason="unload")
        return

    template = ChatTemplate(job.model)
    think, image_data = _check_capabilities(req, str(job.model.name), template.capabilities())
    images: dict[str, ImageInput] = {}
    if image_data:
        decoded = await off_loop(decode_images, list(image_data.values()))
        images = dict(zip(image_data, decoded, strict=True))

    async with state.scheduler.lease(job.spec, job.options, job.keep_alive) as lease:
        if not req.messages:
            yield ChatResponse(model=req.model, done=True, done_reason="load")
            return
        runner = lease.runner
        media = await off_loop(image_prompts, runner, images) if images else {}
        prompt_job = _PromptJob(
            template, req, think, runner, job.options, runner.context_size(job.options), media
        )
        messages = conversation(job.model, req.messages)
        # Told the tools before the prompt is rendered: it may rename them (harmony).
        builtin = template.builtin_parser(messages, req.tools, think)
        if req.debug_render_only:
            prompt = await off_loop(prompt_job.render, messages)
            count = sum(len(m.images or ()) for m in req.messages)
            info = DebugInfo(rendered_template=prompt, image_count=count or None)
            yield ChatResponse(model=req.model, done=True, debug_info=info)
            return
        prompt, chunks = await off_loop(prompt_job.tokens, messages)

        # A built-in parser reads thinking (and tool calls, when it can) in place of the others.
        reply = _Reply(
            template.thinking_parser(prompt) if think and builtin is None else None,
            ToolCallParser(template.tool_call_tag(), req.tools)
            if req.tools and (builtin is None or not builtin.has_tool_support)
            else None,
            BuiltinReader(builtin) if builtin is not None else None,
        )
        # A thinking model thinks unconstrained: `format` applies from its first answer token
        # on, in a second run whose prompt carries the thinking so far (Ollama's structured
        # outputs).
        thinks = reply.thinking is not None or (
            builtin is not None and builtin.has_thinking_support and think is not False
        )
        deferred = req.format not in (None, "") and thinks
        preserved = preserved_tokens(runner, builtin)
        while True:
            params = GenerateParams(
                prompt=chunks,
                options=job.options,
                num_ctx=prompt_job.num_ctx,
                format=None if deferred else req.format,
                shift=req.shift is not False,
                logprobs=req.logprobs,
                top_logprobs=req.top_logprobs,
                preserved=preserved,
            )
            restart = False
            async with contextlib.aclosing(runner.generate(params)) as events:
                async for event in events:
                    if isinstance(event, TokenEvent):
                        thinking, content = reply.split(event.text)
                        if deferred and content:
                            restart = True
                            content = ""
                        chunk = reply.chunk(req.model, thinking, content, event.logprobs)
                        if chunk is not None:
                            yield chunk
                        if restart:
                            break
                    elif isinstance(event, DoneEvent):
                        final = reply.finish(req.model, event)
                        final.total_duration = int((time.perf_counter() - started) * 1e9)
                        final.load_duration = lease.load_ns
                        yield final
                    elif isinstance(event, ErrorEvent):
                        raise InternalError(event.message)
            if not restart:
                return
            deferred = False
            if reply.thought:
                messages = [*messages, {"role": "assistant", "thinking": reply.thought}]
            if builtin is not None:
                # The output goes on from the new prompt's end: a parser told so afresh.
                fresh = template.builtin_parser(messages, req.tools, think)
                assert reply.builtin is not None and fresh is not None
                reply.builtin.parser = fresh
            _, chunks = await off_loop(prompt_job.tokens, messages)


@dataclass
class _PromptJob:
    """Messages into prompt text and chunks, fitted to the context; run off the event loop.

    The images of the messages kept are tagged `[img-N]`, numbered over those messages (as
    Ollama numbers them); the images' chunks are the runner's, made once per request.
    """

    template: ChatTemplate
    req: ChatRequest
    think: ThinkValue | None
    runner: Runner
    options: Options
    num_ctx: int
    media: dict[str, list[PromptChunk]]

    # The prompt whose length was last counted, and its chunks: the prompt that fits is the
    # last one counted, so it is not tokenized a second time (seconds, for a huge prompt).
    counted: tuple[str, list[PromptChunk]] | None = None
    # The images of the last prompt rendered, in the order of their tags.
    order: list[str] | None = None

    def render(self, messages: list[dict]) -> str:
        return chat_prompt(
            self._render_kept,
            messages,
            self._count,
            self.num_ctx,
            self.req.truncate is not False,
        )

    def tokens(self, messages: list[dict]) -> tuple[str, list[PromptChunk]]:
        prompt = self.render(messages)
        if self.counted is not None and self.counted[0] is prompt:
            chunks = self.counted[1]
        else:
            chunks = self._chunks(prompt)
        return prompt, fit_context(
            chunks, self.options, self.num_ctx, self.req.truncate is not False
        )

    def _render_kept(self, kept: list[dict]) -> str:
        if self.media:
            kept, self.order = tag_images(kept)
        return self.template.render(kept, self.req.tools, self.think)

    def _chunks(self, prompt: str) -> list[PromptChunk]:
        images = [self.media[image] for image in self.order or ()]
        return prompt_chunks(self.runner, prompt, images, add_special=True)

    def _count(self, prompt: str) -> int:
        self.counted = (prompt, self._chunks(prompt))
        return chunks_length(self.counted[1])


def _check_capabilities(
    req: ChatRequest, full_name: str, caps: list[str]
) -> tuple[ThinkValue | None, dict[str, bytes]]:
    """Refuse what the model cannot do; return the effective `think` (on by default for
    thinking models, as in Ollama) and the messages' images (base64 → bytes).

    Worded as Ollama's ChatHandler words each: `chat` and `thinking` with the name as the
    request gave it, quoted; `tools` as its scheduler's capability check, with the model's
    full name unquoted."""
    if "completion" not in caps:
        raise does_not_support(req.model, "chat")
    if req.tools and "tools" not in caps:
        raise lacks_capability(full_name, "tools")
    images = [image for m in req.messages for image in m.images or ()]
    data: dict[str, bytes] = {}
    if images:
        # As Ollama, base64 first (it is part of the JSON); an image sent twice is kept once.
        data = dict(zip(images, check_images(images), strict=True))
        if "vision" not in caps:
            raise does_not_support(req.model, "images")
    if "thinking" in caps:
        return (True if req.think is None else req.think), data
    if req.think:
        raise does_not_support(req.model, "thinking")
    return req.think, data


def fold_chat(parts: list[ChatResponse]) -> ChatResponse:
    """The single object of a non-streamed chat: the final chunk with the whole message."""
    calls = [call for part in parts for call in part.message.tool_calls or ()]
    thinking = "".join(part.message.thinking or "" for part in parts)
    logprobs = [lp for part in parts for lp in part.logprobs or ()]
    last = parts[-1]
    message = last.message.model_copy(
        update={
            "content": "".join(part.message.content for part in parts),
            "thinking": thinking or None,
            "tool_calls": calls or None,
        }
    )
    return last.model_copy(update={"message": message, "logprobs": logprobs or None})


class _Reply:
    """The model's output split into thinking, content and tool calls, chunk by chunk: by the
    thinking and tool-call parsers, or by the model's built-in parser (the tool-call parser
    then reads its content only when it reads no tool calls itself)."""

    def __init__(
        self,
        thinking: ThinkingParser | None,
        tools: ToolCallParser | None,
        builtin: BuiltinReader | None = None,
    ) -> None:
        self.thinking = thinking
        self.tools = tools
        self.builtin = builtin
        self.thought = ""

    def split(self, text: str) -> tuple[str, str]:
        """(thinking, content) of the next piece of output."""
        if self.builtin is not None:
            thinking, content = self.builtin.add(text)
        elif self.thinking is None:
            return "", text
        else:
            thinking, content = self.thinking.add(text)
        self.thought += thinking
        return thinking, content

    def chunk(
        self, model: str, thinking: str, content: str, logprobs: list[dict] | None
    ) -> ChatResponse | None:
        """A streamed chunk, or None while everything is held back."""
        calls = self.builtin.take_calls() if self.builtin is not None else []
        if self.tools is not None and content:
            more, content = self.tools.add(content)
            calls += more
        if not (thinking or content or calls or logprobs):
            return None
        return ChatResponse(
            model=model,
            message=Message(
                role="assistant",
                content=content,
                thinking=thinking or None,
                tool_calls=calls or None,
            ),
            logprobs=[Logprob.model_validate(x) for x in logprobs] if logprobs else None,
        )

    def finish(self, model: str, done: DoneEvent) -> ChatResponse:
        """The final chunk: whatever the parsers still held, and the run's statistics."""
        calls: list[ToolCall] = []
        if self.builtin is not None:
            thinking, content = self.builtin.finish()
            calls = self.builtin.take_calls()
        elif self.thinking is not None:
            thinking, content = self.thinking.finish()
        else:
            thinking, content = "", ""
        self.thought += thinking
        if self.tools is not None:
            more, content = self.tools.add(content)
            calls += more
            content += self.tools.finish()
        message = Message(
            role="assistant", content=content, thinking=thinking or None, tool_calls=calls or None
        )
        return ChatResponse(
            model=model,
            message=message,
            done=True,
            done_reason=done.reason,
            prompt_eval_count=done.prompt_eval_count,
            prompt_eval_duration=done.prompt_eval_ns,
            eval_count=done.eval_count,
            eval_duration=done.eval_ns,
        )
