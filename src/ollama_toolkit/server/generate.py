"""POST /api/generate, with Ollama's semantics for every field of its reference."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from ollama_toolkit.api.errors import (
    APIError,
    does_not_support,
    model_required,
    raw_with_template,
    top_logprobs_range,
)
from ollama_toolkit.api.types import DebugInfo, GenerateRequest, GenerateResponse, Logprob
from ollama_toolkit.engine.grammar import grammar_for_format
from ollama_toolkit.engine.llama import LlamaModel
from ollama_toolkit.engine.runner import DoneEvent, ErrorEvent, GenerationRequest, TokenEvent
from ollama_toolkit.server.inference import (
    ServerState,
    check_images,
    find_model,
    fit_context,
    keep_alive_seconds,
    request_options,
    stream_events,
    think_level,
)
from ollama_toolkit.store.model import Model
from ollama_toolkit.template import TemplateError, Values
from ollama_toolkit.template import parse as parse_template


async def generate(state: ServerState, req: GenerateRequest) -> AsyncIterator[GenerateResponse]:
    """Validate, load, render, run: yields response chunks (the last one has done=True).

    Everything that can be refused is checked before the first chunk, so errors are plain
    HTTP errors; only engine failures after streaming began come as a final error chunk.
    """
    started = time.perf_counter()
    if not 0 <= req.top_logprobs <= 20:
        raise top_logprobs_range()
    if not req.model:
        raise model_required()
    model = find_model(state, req.model)
    keep_alive = keep_alive_seconds(req.keep_alive)

    if not req.prompt and keep_alive == 0:
        await state.scheduler.unload_model(model)
        yield GenerateResponse(model=req.model, done=True, done_reason="unload")
        return
    if req.raw and (req.template or req.system or req.context):
        raise raw_with_template()
    caps = model.capabilities()
    if "completion" not in caps:
        raise APIError(f'"{req.model}" does not support generate')
    if req.think and "thinking" not in caps:
        raise APIError(f'"{req.model}" does not support thinking')
    if req.images:
        check_images(req.images)
        if "vision" not in caps:
            raise does_not_support(req.model, "images")
    opts = request_options(model, req.options)
    grammar = grammar_for_format(req.format)
    prompt, fim = _render(model, req) if req.prompt else (None, False)

    if req.debug_render_only and prompt is not None:
        yield GenerateResponse(
            model=req.model, done=True, debug_info=DebugInfo(rendered_template=prompt)
        )
        return

    loaded, load_ns = await state.scheduler.acquire(model, opts, keep_alive)
    if prompt is None:
        state.scheduler.release(loaded, keep_alive)
        yield GenerateResponse(model=req.model, done=True, done_reason="load")
        return
    try:
        runner = loaded.runner
        num_ctx = min(opts.num_ctx or runner.num_ctx, runner.num_ctx)
        tokens = _tokenize(runner.model, req, prompt, fim)
        tokens = fit_context(tokens, opts, num_ctx, req.truncate is not False)
    except BaseException:
        state.scheduler.release(loaded, keep_alive)
        raise
    gen = GenerationRequest(
        tokens=tokens,
        options=opts,
        num_ctx=num_ctx,
        grammar=grammar,
        json_end=grammar is not None,
        shift=req.shift is not False,
        logprobs=req.logprobs,
        top_logprobs=req.top_logprobs,
    )
    async for event in stream_events(state, loaded, gen, keep_alive):
        if isinstance(event, TokenEvent):
            yield GenerateResponse(
                model=req.model,
                response=event.text,
                logprobs=[Logprob.model_validate(x) for x in event.logprobs]
                if event.logprobs
                else None,
            )
        elif isinstance(event, DoneEvent):
            yield GenerateResponse(
                model=req.model,
                done=True,
                done_reason=event.reason,
                context=event.context,
                total_duration=int((time.perf_counter() - started) * 1e9),
                load_duration=load_ns,
                prompt_eval_count=event.prompt_eval_count,
                prompt_eval_duration=event.prompt_eval_ns,
                eval_count=event.eval_count,
                eval_duration=event.eval_ns,
            )
        elif isinstance(event, ErrorEvent):
            raise APIError(event.message, 500)


def fold_generate(parts: list[GenerateResponse]) -> GenerateResponse:
    """The single object of a non-streamed generate: the final chunk with all text joined."""
    logprobs = [lp for part in parts for lp in part.logprobs or ()]
    return parts[-1].model_copy(
        update={
            "response": "".join(part.response for part in parts),
            "logprobs": logprobs or None,
        }
    )


def _render(model: Model, req: GenerateRequest) -> tuple[str, bool]:
    """The prompt text, and whether the GGUF's fill-in-the-middle tokens must frame it."""
    if req.raw:
        return req.prompt, False
    try:
        template = parse_template(req.template) if req.template else model.parsed_template
    except TemplateError as e:
        raise APIError(f"template error: {e}") from None
    if req.suffix:
        if "suffix" not in template.vars():
            if not _has_fim(model):
                raise does_not_support(req.model, "insert")
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
        values = Values(
            messages=messages,
            think=bool(req.think),
            think_level=think_level(req.think),
            is_think_set=req.think is not None,
        )
    try:
        return template.execute(values), False
    except TemplateError as e:
        raise APIError(f"template error: {e}") from None


def _has_fim(model: Model) -> bool:
    kv = model.metadata
    return all(f"tokenizer.ggml.fim_{k}_token_id" in kv for k in ("pre", "suf", "mid"))


def _tokenize(llama: LlamaModel, req: GenerateRequest, prompt: str, fim: bool) -> list[int]:
    if fim:
        tokens = llama.fim_tokens()
        if tokens is None:
            raise does_not_support(req.model, "insert")
        pre, suf, mid = tokens
        return [
            *llama.tokenize("", add_special=True),
            pre,
            *llama.tokenize(req.prompt, add_special=False),
            suf,
            *llama.tokenize(req.suffix, add_special=False),
            mid,
        ]
    if req.context:
        return list(req.context) + llama.tokenize(prompt, add_special=False)
    return llama.tokenize(prompt, add_special=True)
