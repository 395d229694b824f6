"""Clients of the wider ecosystem, unchanged, against a real server: LangChain's Ollama
integration (`langchain-ollama`: `ChatOllama`, `OllamaEmbeddings`), LangChain's OpenAI one
(`langchain-openai`: `ChatOpenAI` on `/v1`) and LlamaIndex's Ollama LLM
(`llama-index-llms-ollama`). Each is used as its documentation shows, with only the server's
address changed.

Nothing here reaches the network: these packages ship what they read at import (LlamaIndex its
NLTK and tiktoken data), and LangSmith tracing, LangChain's only other traffic, stays off.
"""

from __future__ import annotations

import httpx
import numpy as np
import ollama
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.tools import tool
from langchain_ollama import ChatOllama, OllamaEmbeddings
from langchain_openai import ChatOpenAI
from llama_index.core.llms import ChatMessage
from llama_index.llms.ollama import Ollama

from ollama_toolkit import config
from ollama_toolkit.store.names import ModelName

NUM_PREDICT = 8
QUESTION = "What is the capital of France?"


@pytest.fixture(autouse=True)
def no_tracing(monkeypatch) -> None:
    """LangSmith tracing would send every run to its service: off, whatever the environment."""
    for name in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING"):
        monkeypatch.delenv(name, raising=False)


def joined(chunks) -> str:
    return "".join(chunk.content for chunk in chunks)


# --- langchain-ollama ----------------------------------------------------------------------------


def test_langchain_chat_ollama_invokes_and_streams(server, chat_model):
    llm = ChatOllama(
        model=chat_model,
        base_url=server.url,
        temperature=0,
        num_predict=NUM_PREDICT,
        validate_model_on_init=True,  # reads /api/tags
    )
    messages = [SystemMessage("Answer in one short sentence."), HumanMessage(QUESTION)]
    answer = llm.invoke(messages)
    assert isinstance(answer.content, str) and answer.content.strip()
    assert answer.response_metadata["model"] == chat_model
    assert answer.response_metadata["done_reason"] in ("stop", "length")
    usage = answer.usage_metadata
    assert usage is not None and usage["input_tokens"] > 0
    assert 0 < usage["output_tokens"] <= NUM_PREDICT

    chunks = list(llm.stream(messages))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert sum(bool(c.content) for c in chunks) > 1  # streamed, not one piece
    assert joined(chunks) == answer.content  # greedy: the same answer
    whole = sum(chunks[1:], chunks[0])
    assert whole.usage_metadata["output_tokens"] == usage["output_tokens"]


def test_langchain_chat_ollama_names_a_missing_model_and_a_missing_capability(server, chat_model):
    with pytest.raises(ValueError, match="not found in Ollama"):
        ChatOllama(model="no-such-model", base_url=server.url, validate_model_on_init=True)

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    llm = ChatOllama(model=chat_model, base_url=server.url).bind_tools([get_weather])
    with pytest.raises(ollama.ResponseError) as e:
        llm.invoke(QUESTION)
    assert e.value.status_code == 400
    assert e.value.error == f"{ModelName.parse(chat_model)} does not support tools"


def test_langchain_ollama_embeddings(server, model):
    embeddings = OllamaEmbeddings(model=model, base_url=server.url)
    query = embeddings.embed_query("Why is the sky blue?")
    size = len(query)
    assert size == 640  # Gemma 3 270M's hidden size
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    docs = embeddings.embed_documents(["Why is the sky blue?", "Quarterly revenue grew."])
    assert [len(v) for v in docs] == [size, size]
    assert docs[0] == pytest.approx(query, abs=1e-6)
    assert docs[0] != docs[1]


# --- langchain-openai ----------------------------------------------------------------------------


def test_langchain_chat_openai_invokes_and_streams(server, chat_model):
    llm = ChatOpenAI(
        model=chat_model,
        base_url=server.url + "/v1",
        api_key="x",
        temperature=0,
        max_tokens=NUM_PREDICT,
        max_retries=0,
        stream_usage=True,  # stream_options.include_usage: a last chunk with the usage
    )
    answer = llm.invoke(QUESTION)
    assert isinstance(answer.content, str) and answer.content.strip()
    assert answer.response_metadata["model_name"] == chat_model
    assert answer.response_metadata["finish_reason"] in ("stop", "length")
    usage = answer.usage_metadata
    assert usage is not None and usage["input_tokens"] > 0
    assert 0 < usage["output_tokens"] <= NUM_PREDICT

    chunks = list(llm.stream(QUESTION))
    assert sum(bool(c.content) for c in chunks) > 1
    assert joined(chunks) == answer.content
    whole = sum(chunks[1:], chunks[0])
    assert whole.usage_metadata == usage


# --- llama-index-llms-ollama ---------------------------------------------------------------------


def test_llama_index_reads_the_context_window_from_show(server, chat_model):
    # With no context_window, LlamaIndex asks /api/show for the model's context length.
    shown = httpx.post(server.url + "/api/show", json={"model": chat_model}, timeout=60).json()
    length = next(v for k, v in shown["model_info"].items() if k.endswith(".context_length"))
    assert Ollama(model=chat_model, base_url=server.url).get_context_window() == length


def test_llama_index_ollama_completes_chats_and_streams(server, chat_model):
    llm = Ollama(
        model=chat_model,
        base_url=server.url,
        request_timeout=120,
        temperature=0,
        # The server's default, so the loaded model serves it as it is (LlamaIndex sends
        # num_ctx with every request).
        context_window=config.context_length(),
        additional_kwargs={"num_predict": NUM_PREDICT},
    )
    completion = llm.complete(QUESTION)
    assert completion.text.strip()
    assert completion.raw["done_reason"] in ("stop", "length")

    reply = llm.chat([ChatMessage(role="user", content=QUESTION)])
    assert reply.message.role == "assistant"
    assert reply.message.content == completion.text  # complete is a one-message chat

    deltas = [r.delta for r in llm.stream_complete(QUESTION)]
    assert sum(bool(d) for d in deltas) > 1
    assert "".join(d or "" for d in deltas) == completion.text
