"""POST /api/generate, with Ollama's semantics for every field of its reference."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator

from ollama_toolkit.api.errors import (
    InternalError,
    InvalidRequest,
    does_not_support,
    model_required,
    raw_with_template,
    template_error,
    top_logprobs_range,
)
from ollama_toolkit.api.types import DebugInfo, GenerateRequest, GenerateResponse, Logprob
from ollama_toolkit.engine.runner import (
    DoneEvent,
    ErrorEvent,
    GenerateParams,
    Runner,
    TokenChunk,
    TokenEvent,
)
from ollama_toolkit.server.prepare import (
    ServerState,
    check_images,
    fit_context,
    off_loop,
    prepare,
    think_level,
)
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
    caps = model.capabilities()
    if "completion" not in caps:
        raise InvalidRequest(f'"{req.model}" does not support generate')
    if req.think and "thinking" not in caps:
        raise InvalidRequest(f'"{req.model}" does not support thinking')
    if req.images:
        check_images(req.images)
        if "vision" not in caps:
            raise does_not_support(req.model, "images")
    prompt, fim = await off_loop(_render, model, req) if req.prompt else (None, False)

    if req.debug_render_only and prompt is not None:
        yield GenerateResponse(
            model=req.model, done=True, debug_info=DebugInfo(rendered_template=prompt)
        )
        return

    async with state.scheduler.lease(job.spec, job.options, job.keep_alive) as lease:
        if prompt is None:
            yield GenerateResponse(model=req.model, done=True, done_reason="load")
            return
        runner = lease.runner
        num_ctx = runner.context_size(job.options)
        tokens = await off_loop(_tokenize, runner, req, prompt, fim)
        tokens = fit_context(tokens, job.options, num_ctx, req.truncate is not False)
        params = GenerateParams(
            prompt=[TokenChunk(tokens)],
            options=job.options,
            num_ctx=num_ctx,
            format=req.format,
            shift=req.shift is not False,
            logprobs=req.logprobs,
            top_logprobs=req.top_logprobs,
        )
        async with contextlib.aclosing(runner.generate(params)) as events:
            async for event in events:
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
        raise template_error(str(e)) from None
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
        raise template_error(str(e)) from None


def _has_fim(model: Model) -> bool:
    kv = model.metadata
    return all(f"tokenizer.ggml.fim_{k}_token_id" in kv for k in ("pre", "suf", "mid"))


def _tokenize(runner: Runner, req: GenerateRequest, prompt: str, fim: bool) -> list[int]:
    if fim:
        tokens = runner.vocab.fim
        if tokens is None:
            raise does_not_support(req.model, "insert")
        pre, suf, mid = tokens
        return [
            *runner.tokenize("", add_special=True),
            pre,
            *runner.tokenize(req.prompt, add_special=False),
            suf,
            *runner.tokenize(req.suffix, add_special=False),
            mid,
        ]
    if req.context:
        return list(req.context) + runner.tokenize(prompt, add_special=False)
    return runner.tokenize(prompt, add_special=True)
