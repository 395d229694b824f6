"""POST /api/generate, with Ollama's semantics for every field of its reference."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator

from ollama_toolkit.api.errors import (
    InternalError,
    InvalidRequest,
    does_not_support,
    lacks_capability,
    model_required,
    raw_with_template,
    template_error,
    top_logprobs_range,
)
from ollama_toolkit.api.types import (
    DebugInfo,
    GenerateRequest,
    GenerateResponse,
    Logprob,
    ThinkValue,
)
from ollama_toolkit.engine.runner import (
    DoneEvent,
    ErrorEvent,
    GenerateParams,
    PromptChunk,
    Runner,
    TokenChunk,
    TokenEvent,
)
from ollama_toolkit.parsers.thinking import ThinkingParser
from ollama_toolkit.server.media import (
    check_images,
    decode_images,
    image_prompts,
    prompt_chunks,
    tag_images,
)
from ollama_toolkit.server.prepare import (
    ServerState,
    fit_context,
    off_loop,
    prepare,
    think_level,
)
from ollama_toolkit.server.prompt import BuiltinReader, ChatTemplate, preserved_tokens
from ollama_toolkit.store.model import Model
from ollama_toolkit.template import TemplateError, Values
from ollama_toolkit.template import parse as parse_template


async def generate(
    state: ServerState, req: GenerateRequest
) -> AsyncGenerator[GenerateResponse, None]:
    """Validate, load, render, run: yields response chunks (the last one has done=True).

    Everything that can be refused is checked before the first chunk, so errors are plain
    HTTP errors; only engine failures after streaming began come as a final error chunk.
    """
    started = time.perf_counter()
    if not 0 <= req.top_logprobs <= 20:
        raise top_logprobs_range()
    if not req.model:
        raise model_required()
    job = prepare(state, req.model, req.options, req.keep_alive)
    model = job.model

    if not req.prompt and job.keep_alive == 0:
        await state.scheduler.unload_model(job.spec)
        yield GenerateResponse(model=req.model, done=True, done_reason="unload")
        return
    if req.raw and (req.template or req.system or req.context):
        raise raw_with_template()
    chat_template = ChatTemplate(model)
    caps = chat_template.capabilities()
    if "completion" not in caps:
        raise InvalidRequest(f'"{req.model}" does not support generate')
    think = _effective_think(req, caps)
    if req.context and not all(0 <= t < model.vocab_size for t in req.context):
        raise InvalidRequest("context holds a token that is not in the model's vocabulary")
    images = {}
    if req.images:
        data = check_images(req.images)  # as Ollama, base64 first: it is part of the JSON
        if "vision" not in caps:
            raise does_not_support(req.model, "images")
        if not req.debug_render_only:
            decoded = await off_loop(decode_images, data)
            images = dict(zip(req.images, decoded, strict=True))
    prompt, fim = (
        await off_loop(_render, chat_template, req, think) if req.prompt else (None, False)
    )

    if req.debug_render_only and prompt is not None:
        info = DebugInfo(rendered_template=prompt, image_count=len(req.images or ()) or None)
        yield GenerateResponse(model=req.model, done=True, debug_info=info)
        return

    async with state.scheduler.lease(job.spec, job.options, job.keep_alive) as lease:
        if prompt is None:
            yield GenerateResponse(model=req.model, done=True, done_reason="load")
            return
        runner = lease.runner
        num_ctx = runner.context_size(job.options)
        media = await off_loop(image_prompts, runner, images) if images else {}
        chunks = await off_loop(_tokenize, runner, req, str(model.name), prompt, fim, media)
        chunks = fit_context(chunks, job.options, num_ctx, req.truncate is not False)
        # The reasoning of a thinking model goes to `thinking`, never into `response`.
        # A model's built-in parser reads it instead (not in raw mode), told no tools.
        builtin = None if req.raw else chat_template.builtin_parser([], None, think)
        # Its tool calls come on the final chunk (Ollama sets `tool_calls` there only, and only
        # the calls the parser completes at the very end: here every call the output made).
        parser: ThinkingParser | BuiltinReader | None = (
            BuiltinReader(builtin)
            if builtin is not None
            else chat_template.thinking_parser(prompt)
            if think
            else None
        )
        params = GenerateParams(
            prompt=chunks,
            options=job.options,
            num_ctx=num_ctx,
            format=req.format,
            shift=req.shift is not False,
            logprobs=req.logprobs,
            top_logprobs=req.top_logprobs,
            preserved=preserved_tokens(runner, builtin),
        )
        async with contextlib.aclosing(runner.generate(params)) as events:
            async for event in events:
                if isinstance(event, TokenEvent):
                    thinking, text = parser.add(event.text) if parser else ("", event.text)
                    if not (thinking or text or event.logprobs):
                        continue  # held back: it may still be a tag
                    yield GenerateResponse(
                        model=req.model,
                        response=text,
                        thinking=thinking or None,
                        logprobs=[Logprob.model_validate(x) for x in event.logprobs]
                        if event.logprobs
                        else None,
                    )
                elif isinstance(event, DoneEvent):
                    thinking, text = parser.finish() if parser else ("", "")
                    yield GenerateResponse(
                        model=req.model,
                        response=text,
                        thinking=thinking or None,
                        done=True,
                        done_reason=event.reason,
                        tool_calls=(parser.take_calls() or None)
                        if isinstance(parser, BuiltinReader)
                        else None,
                        # As Ollama, no context in raw mode: it would not continue anything.
                        context=None if req.raw else event.context,
                        total_duration=int((time.perf_counter() - started) * 1e9),
                        load_duration=lease.load_ns,
                        prompt_eval_count=event.prompt_eval_count,
                        prompt_eval_duration=event.prompt_eval_ns,
                        eval_count=event.eval_count,
                        eval_duration=event.eval_ns,
                    )
                elif isinstance(event, ErrorEvent):
                    raise InternalError(event.message)


def fold_generate(parts: list[GenerateResponse]) -> GenerateResponse:
    """The single object of a non-streamed generate: the final chunk with all text joined."""
    logprobs = [lp for part in parts for lp in part.logprobs or ()]
    thinking = "".join(part.thinking or "" for part in parts)
    return parts[-1].model_copy(
        update={
            "response": "".join(part.response for part in parts),
            "thinking": thinking or None,
            "logprobs": logprobs or None,
        }
    )


def _effective_think(req: GenerateRequest, caps: list[str]) -> ThinkValue | None:
    """`think` as Ollama's GenerateHandler settles it: on by default for a model that can
    think; asking a model that cannot is refused (`false` is not)."""
    if "thinking" in caps:
        return True if req.think is None else req.think
    if req.think:
        raise does_not_support(req.model, "thinking")
    return req.think


def _render(
    chat_template: ChatTemplate, req: GenerateRequest, think: ThinkValue | None
) -> tuple[str, bool]:
    """The prompt text, and whether the GGUF's fill-in-the-middle tokens must frame it."""
    if req.raw:
        return req.prompt, False
    model = chat_template.model
    try:
        template = parse_template(req.template) if req.template else model.parsed_template
    except TemplateError as e:
        raise template_error(str(e)) from None
    if req.suffix:
        if "suffix" not in template.vars():
            if not _has_fim(model):
                raise lacks_capability(str(model.name), "insert")
            return req.prompt, True
        values = Values(prompt=req.prompt, suffix=req.suffix)
    else:
        messages = []
        system = req.system or model.system
        if system:
            messages.append({"role": "system", "content": system})
        if req.context is None:
            messages.extend(model.messages)
        user: dict = {"role": "user", "content": req.prompt}
        if req.images:
            user["images"] = req.images
        messages.append(user)
        if not req.template and (chat_template.jinja is not None or model.renderer):
            # A model rendered with its built-in renderer or its GGUF's Jinja template: the
            # same rendering as a chat, as Ollama's generate renders its chat-like prompts.
            return chat_template.render(tag_images(messages)[0], None, think), False
        values = Values(
            messages=tag_images(messages)[0],
            think=bool(think),
            think_level=think_level(think),
            is_think_set=think is not None,
        )
    try:
        return template.execute(values), False
    except TemplateError as e:
        raise template_error(str(e)) from None


def _has_fim(model: Model) -> bool:
    kv = model.metadata
    return all(f"tokenizer.ggml.fim_{k}_token_id" in kv for k in ("pre", "suf", "mid"))


def _tokenize(
    runner: Runner,
    req: GenerateRequest,
    full_name: str,
    prompt: str,
    fim: bool,
    media: dict[str, list[PromptChunk]],
) -> list[PromptChunk]:
    """The prompt as chunks; its `[img-N]` tags are the request's images (N counts from 0)."""
    if fim:
        tokens = runner.vocab.fim
        if tokens is None:
            raise lacks_capability(full_name, "insert")
        pre, suf, mid = tokens
        return [
            TokenChunk(
                [
                    *runner.tokenize("", add_special=True),
                    pre,
                    *runner.tokenize(req.prompt, add_special=False),
                    suf,
                    *runner.tokenize(req.suffix, add_special=False),
                    mid,
                ]
            )
        ]
    images = [media[image] for image in req.images or ()] if media else []
    if req.context:
        return [
            TokenChunk(list(req.context)),
            *prompt_chunks(runner, prompt, images, add_special=False),
        ]
    return prompt_chunks(runner, prompt, images, add_special=True)
