"""Points where this server answers as Ollama does, checked against a real server: the version
it reports, /api/show's tensors, `model_info` and `options`, /api/tags' capabilities and
details, /api/ps' order, `context` in raw mode, Ollama's wording for a missing capability and
for a prompt that does not fit the context (and where that bound is), the methods answered, and
its CORS layer's answers to cross-site `OPTIONS`. Each one is Ollama's at the commit
`API_VERSION` names (server/routes.go, api/types.go, server/images.go, fs/ggml, and the
gin-contrib/cors and llama-server it runs)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import ollama
import pytest
from gguf import GGUFReader, GGUFWriter

from ollama_toolkit.server.routes import API_VERSION
from ollama_toolkit.store.names import ModelName
from ollama_toolkit.store.store import MEDIA_MODEL, Store
from test_store import write_tiny_gguf

CHILD = "fidelity-child:latest"  # created from the bundled Gemma: its parent is that model
TOKENS_100 = "fidelity-vocab100:latest"  # a GGUF whose token list has 100 items
TOKENS_1100 = "fidelity-vocab1100:latest"  # and one whose list has 1100
MISCOUNTED = "fidelity-miscounted:latest"  # a GGUF whose general.parameter_count is wrong


@pytest.fixture(scope="module")
def client(private_server) -> ollama.Client:
    return ollama.Client(host=private_server.url)


@pytest.fixture(scope="module", autouse=True)
def models(client, tmp_path_factory) -> None:
    assert client.create(model=CHILD, from_="gemma3:270m-pt", stream=False).status == "success"
    root = tmp_path_factory.mktemp("fidelity")
    for name, n_vocab in ((TOKENS_100, 100), (TOKENS_1100, 1100)):
        gguf = write_tiny_gguf(root / f"v{n_vocab}.gguf", n_vocab=n_vocab)
        digest = client.create_blob(gguf)
        assert client.create(model=name, files={"m.gguf": digest}, stream=False).status == "success"
    digest = client.create_blob(_miscounted_gguf(root / "miscounted.gguf"))
    done = client.create(model=MISCOUNTED, files={"m.gguf": digest}, stream=False)
    assert done.status == "success"


def _miscounted_gguf(path: Path) -> Path:
    """A GGUF of 6 + 4 parameters that says it has 1 (shown, never loaded)."""
    w = GGUFWriter(str(path), "llama")
    w.add_uint64("general.parameter_count", 1)
    w.add_tensor("a.weight", np.zeros((2, 3), dtype=np.float32))
    w.add_tensor("b.weight", np.zeros(4, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def show(server, **body) -> dict:
    resp = httpx.post(f"{server.url}/api/show", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def weights(server, name: str) -> Path:
    store = Store(server.models_dir)
    layer = store.read_manifest(ModelName.parse(name)).layer(MEDIA_MODEL)
    assert layer is not None
    return store.blob_path(layer.digest)


# --- /api/version ------------------------------------------------------------------------------


def test_version_is_the_ollama_release_whose_api_this_follows(private_server):
    # The mirrored Ollama commit fb30760 is tagged v0.33.0-rc2; its binary reports it so.
    assert API_VERSION == "0.33.0-rc2"
    resp = httpx.get(f"{private_server.url}/api/version", timeout=30)
    assert resp.json() == {"version": "0.33.0-rc2"}
    assert httpx.head(f"{private_server.url}/api/version", timeout=30).status_code == 200


# --- /api/show ---------------------------------------------------------------------------------


def test_show_lists_every_tensor_with_its_type_and_shape(private_server, model):
    # Ollama's GetModelInfo fills `tensors` from the GGUF whether or not `verbose` is set.
    reader = GGUFReader(str(weights(private_server, model)))
    expected = [
        {"name": t.name, "type": t.tensor_type.name, "shape": [int(n) for n in t.shape]}
        for t in reader.tensors
    ]
    for verbose in (False, True):
        tensors = show(private_server, model=model, verbose=verbose)["tensors"]
        assert tensors == expected
    assert expected[1] == {"name": "token_embd.weight", "type": "Q8_0", "shape": [640, 262144]}


def test_show_model_info_drops_the_name_and_chat_template(private_server, chat_model):
    kv = GGUFReader(str(weights(private_server, chat_model))).fields
    assert "general.name" in kv and "tokenizer.chat_template" in kv  # in the file …
    info = show(private_server, model=chat_model)["model_info"]
    assert "general.name" not in info and "tokenizer.chat_template" not in info  # … not shown
    assert info["general.architecture"] == "llama"


def test_show_model_info_nulls_arrays_longer_than_1024_unless_verbose(private_server, client):
    # Ollama decodes arrays of up to 1024 items (llm.LoadModel(path, 0)); a longer one is
    # `null` (its values are never read) until `verbose` asks for everything.
    short = client.show(TOKENS_100).modelinfo
    assert short["tokenizer.ggml.tokens"][:4] == ["<unk>", "<s>", "</s>", "t0"]
    assert len(short["tokenizer.ggml.scores"]) == 100
    long = show(private_server, model=TOKENS_1100)["model_info"]
    assert "tokenizer.ggml.tokens" in long and long["tokenizer.ggml.tokens"] is None
    verbose = show(private_server, model=TOKENS_1100, verbose=True)["model_info"]
    assert len(verbose["tokenizer.ggml.tokens"]) == 1100


def test_show_parameter_count_is_counted_from_the_tensors(private_server, model):
    # Ollama patches the count it made while reading the tensors over the file's own.
    assert show(private_server, model=MISCOUNTED)["model_info"]["general.parameter_count"] == 10
    reader = GGUFReader(str(weights(private_server, model)))
    counted = sum(int(t.n_elements) for t in reader.tensors)
    assert show(private_server, model=model)["model_info"]["general.parameter_count"] == counted


def test_show_options_join_the_modelfile_parameters_and_system_replaces_the_models(
    private_server, chat_model
):
    plain = show(private_server, model=chat_model)
    shown = show(
        private_server,
        model=chat_model,
        system="Be terse.",
        options={"num_ctx": 4096, "temperature": 0.5},
    )
    assert "PARAMETER num_ctx 4096" in shown["modelfile"]
    assert "PARAMETER temperature 0.5" in shown["modelfile"]
    assert 'SYSTEM """Be terse."""' in shown["modelfile"]
    assert "num_ctx" not in plain["modelfile"]
    # `parameters` stays the model's own, as in Ollama (the options are merged after it).
    assert shown["parameters"] == plain["parameters"] and "num_ctx" not in shown["parameters"]
    assert shown["system"] == "Be terse."


def test_show_and_tags_name_the_parent_model(private_server, client, model):
    assert client.show(CHILD).details.parent_model == model
    listed = {m.model: m for m in client.list().models}
    assert listed[CHILD].details.parent_model == model
    assert listed[model].details.parent_model == ""  # registered, not created from another


# --- /api/tags ---------------------------------------------------------------------------------


def test_tags_list_capabilities_and_the_context_and_embedding_lengths(private_server, model):
    listed = httpx.get(f"{private_server.url}/api/tags", timeout=30).json()["models"]
    entry = next(m for m in listed if m["name"] == model)
    assert entry["capabilities"] == ["completion"]
    assert entry["details"]["context_length"] == 32768  # gemma3.context_length
    assert entry["details"]["embedding_length"] == 640  # gemma3.embedding_length
    chat = next(m for m in listed if m["name"] == "smollm2:135m")
    assert chat["details"]["context_length"] == 8192 and chat["details"]["embedding_length"] == 576
    # /api/show's details have neither, as Ollama's.
    assert "context_length" not in show(private_server, model=model)["details"]


# --- /api/ps -----------------------------------------------------------------------------------


def test_ps_lists_the_model_with_the_longest_time_left_first(client, model, chat_model):
    def load(name: str, keep_alive: str) -> None:
        assert client.generate(name, "", keep_alive=keep_alive).done_reason == "load"

    try:
        load(model, "10m")
        load(chat_model, "1h")
        assert [m.model for m in client.ps().models] == [chat_model, model]
        load(model, "2h")
        assert [m.model for m in client.ps().models] == [model, chat_model]
    finally:
        for name in (model, chat_model):
            client.generate(name, "", keep_alive=0)


# --- /api/generate -----------------------------------------------------------------------------


def test_raw_mode_answers_without_context(client, model):
    options = {"temperature": 0, "num_predict": 2}
    assert client.generate(model, "The sky is", raw=True, options=options).context is None
    assert client.generate(model, "The sky is", options=options).context


def test_a_missing_capability_names_the_model_in_full(private_server, model):
    # Ollama's CheckCapabilities error, from its scheduler: the full name, unquoted.
    resp = httpx.post(
        f"{private_server.url}/api/generate",
        json={"model": model, "prompt": "def f(", "suffix": "return 1"},
        timeout=60,
    )
    assert resp.status_code == 400
    full_name = str(ModelName.parse(model))  # host/namespace/model:tag
    assert full_name.endswith(f"/library/{model}")
    assert resp.json() == {"error": f"{full_name} does not support insert"}


def test_a_prompt_longer_than_the_context_is_refused_with_llama_servers_error(
    private_server, model
):
    # Ollama hands a prompt it may not truncate to llama-server and relays its error body.
    resp = httpx.post(
        f"{private_server.url}/api/generate",
        json={
            "model": model,
            "prompt": "word " * 300,
            "truncate": False,
            "options": {"num_ctx": 128},
            "stream": False,
        },
        timeout=120,
    )
    assert resp.status_code == 400
    error = json.loads(resp.json()["error"])["error"]
    n = error["n_prompt_tokens"]
    assert n > 128
    assert error == {
        "code": 400,
        "message": f"request ({n} tokens) exceeds the available context size (128 tokens), "
        "try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": n,
        "n_ctx": 128,
    }


def test_a_prompt_must_leave_room_for_one_token(private_server, model):
    # llama-server refuses a prompt of n_ctx tokens or more: the first generated token needs a
    # cell. Ollama relays that refusal with truncate=false, and truncates such a prompt itself
    # otherwise.
    def generate(num_ctx: int | None, **more) -> httpx.Response:
        body = {"model": model, "prompt": "one two three four five six seven eight", "raw": True}
        options = {"temperature": 0, "num_predict": 1}
        if num_ctx is not None:
            options["num_ctx"] = num_ctx
        return httpx.post(
            f"{private_server.url}/api/generate",
            json={**body, "options": options, "stream": False, **more},
            timeout=120,
        )

    whole = generate(None)
    assert whole.status_code == 200, whole.text
    n = whole.json()["prompt_eval_count"]  # the prompt's tokens, BOS included
    fits = generate(n + 1, truncate=False)
    assert fits.status_code == 200, fits.text
    assert fits.json()["prompt_eval_count"] == n
    refused = generate(n, truncate=False)
    assert refused.status_code == 400
    error = json.loads(refused.json()["error"])["error"]
    assert (error["n_prompt_tokens"], error["n_ctx"]) == (n, n)
    assert error["message"] == (
        f"request ({n} tokens) exceeds the available context size ({n} tokens), try increasing it"
    )
    truncated = generate(n)
    assert truncated.status_code == 200, truncated.text
    assert truncated.json()["prompt_eval_count"] == n - 1


# --- methods -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        # Ollama registers HEAD on these four only (GenerateRoutes) …
        ("/", 200),
        ("/api/version", 200),
        ("/api/tags", 200),
        ("/api/blobs/sha256:" + "0" * 64, 404),  # HeadBlobHandler: not uploaded
        # … and gin answers 405 for the other methods of a known path.
        ("/api/ps", 405),
        ("/api/show", 405),
        ("/api/generate", 405),
        ("/v1/models", 405),
        ("/no/such/path", 404),
    ],
)
def test_head_is_answered_where_ollama_answers_it(private_server, path, status):
    resp = httpx.head(private_server.url + path, timeout=30)
    assert resp.status_code == status
    assert resp.content == b""


# --- CORS --------------------------------------------------------------------------------------

# gin-contrib/cors' preflight answer as Ollama configures it (server/routes.go GenerateRoutes).
PREFLIGHT = {
    "access-control-allow-methods": "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS",
    "access-control-allow-headers": "Authorization,Content-Type,User-Agent,Accept,"
    "X-Requested-With,Openai-Beta,X-Stainless-Arch,X-Stainless-Async,"
    "X-Stainless-Custom-Poll-Interval,X-Stainless-Helper-Method,X-Stainless-Lang,"
    "X-Stainless-Os,X-Stainless-Package-Version,X-Stainless-Poll-Helper,"
    "X-Stainless-Retry-Count,X-Stainless-Runtime,X-Stainless-Runtime-Version,"
    "X-Stainless-Timeout",
    "access-control-max-age": "43200",
}
PREFLIGHT_VARY = ["Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"]


@pytest.mark.parametrize(
    "path", ["/api/chat", "/api/tags", "/v1/chat/completions", "/api/blobs/sha256:00", "/nowhere"]
)
@pytest.mark.parametrize(
    "request_headers",
    [
        {},  # no Access-Control-Request-Method: gin's cors answers any OPTIONS with an Origin
        {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-other"},
        {"Access-Control-Request-Method": "PURGE"},  # nothing requested is checked
    ],
)
def test_a_cross_site_options_is_answered_204_with_ollamas_preflight_headers(
    private_server, path, request_headers
):
    origin = "http://localhost:3000"
    resp = httpx.options(
        private_server.url + path, headers={"Origin": origin, **request_headers}, timeout=30
    )
    assert resp.status_code == 204
    assert resp.content == b""
    assert resp.headers["access-control-allow-origin"] == origin
    for name, value in PREFLIGHT.items():
        assert resp.headers[name] == value
    assert resp.headers.get_list("vary") == PREFLIGHT_VARY


def test_options_that_is_not_cross_site_reaches_the_router(private_server):
    # No Origin, or the server's own: not a CORS request, so gin's router answers (405).
    url = private_server.url + "/api/chat"
    assert httpx.options(url, timeout=30).status_code == 405
    own = {"Origin": private_server.url, "Access-Control-Request-Method": "POST"}
    resp = httpx.options(url, headers=own, timeout=30)
    assert resp.status_code == 405
    assert "access-control-allow-origin" not in resp.headers
    # An empty Origin is none (Go's Header.Get), not a foreign one.
    assert httpx.options(url, headers={"Origin": ""}, timeout=30).status_code == 405
    assert httpx.get(private_server.url + "/api/tags", headers={"Origin": ""}).status_code == 200


def test_a_cross_site_request_gets_its_origin_back_and_vary(private_server):
    origin = "http://127.0.0.1:8080"
    resp = httpx.get(private_server.url + "/api/tags", headers={"Origin": origin}, timeout=30)
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == origin
    assert resp.headers.get_list("vary") == ["Origin"]
    assert "access-control-allow-methods" not in resp.headers  # a preflight's only
    missing = httpx.post(
        private_server.url + "/api/show", json={"model": "nope"}, headers={"Origin": origin}
    )
    assert missing.status_code == 404  # an error a page can read
    assert missing.headers["access-control-allow-origin"] == origin
