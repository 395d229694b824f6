// The server's API, from the page: same-origin fetches, the API key (asked once when the
// server answers 401, kept in sessionStorage, sent as `Authorization: Bearer`), the server's
// `{"error": …}` text as the message of an ApiError, and NDJSON streams read line by line.

const KEY = "ollama-toolkit.api-key";

export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

let asking = null; // one key prompt at a time, however many requests were refused

/** Ask for the API key in the page's dialog; resolves once one is entered. */
function askForKey(refused) {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  const note = document.getElementById("key-note");
  note.textContent = refused
    ? "The server refused that key. Enter another one."
    : "This server needs an API key.";
  input.value = "";
  asking = new Promise((resolve, reject) => {
    const done = (ok) => {
      form.removeEventListener("submit", submit);
      dialog.removeEventListener("cancel", cancel);
      if (dialog.open) dialog.close();
      asking = null;
      ok ? resolve() : reject(new ApiError("An API key is needed: reload the page to enter it.", 401));
    };
    const submit = (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY, key);
      done(true);
    };
    const cancel = (event) => {
      event.preventDefault();
      done(false);
    };
    form.addEventListener("submit", submit);
    dialog.addEventListener("cancel", cancel);
    document.getElementById("key-cancel").onclick = () => done(false);
  });
  dialog.showModal();
  input.focus();
  return asking;
}

/** The text of an error answer: the server's `error` (Ollama's string, OpenAI's object). */
async function errorText(response) {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    const error = body && body.error;
    if (typeof error === "string" && error) return error;
    if (error && typeof error.message === "string") return error.message;
  } catch {
    // not JSON: the text itself
  }
  return text.trim() || `${response.status} ${response.statusText}`.trim();
}

/** `fetch` of an API path: JSON body, the key, 401 → ask for the key and try again. */
export async function request(path, { method = "GET", body, signal } = {}) {
  for (;;) {
    const key = sessionStorage.getItem(KEY);
    const headers = {};
    if (key) headers.Authorization = `Bearer ${key}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(`Cannot reach the server (${error.message}).`);
    }
    if (response.status === 401) {
      await response.body?.cancel();
      await askForKey(Boolean(key));
      continue;
    }
    if (!response.ok) throw new ApiError(await errorText(response), response.status);
    return response;
  }
}

/** The JSON answer of an API path. */
export async function getJSON(path, options) {
  return (await request(path, options)).json();
}

/** The objects of an NDJSON answer, one a line, as they arrive; an `error` line throws. */
export async function* lines(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let rest = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop();
      const batch = [];
      for (const line of parts) if (line.trim()) batch.push(parse(line));
      if (batch.length) yield batch;
    }
    rest += decoder.decode();
    if (rest.trim()) yield [parse(rest)];
  } finally {
    reader.releaseLock();
  }
}

function parse(line) {
  const object = JSON.parse(line);
  if (object && object.error) {
    throw new ApiError(typeof object.error === "string" ? object.error : JSON.stringify(object.error));
  }
  return object;
}

const shown = new Map(); // model name → Promise of its /api/show answer

/** `/api/show` of a model (capabilities, details), asked once per page unless forgotten. */
export function show(model) {
  if (!shown.has(model)) {
    const answer = getJSON("/api/show", { method: "POST", body: { model } });
    answer.catch(() => shown.delete(model));
    shown.set(model, answer);
  }
  return shown.get(model);
}

/** Drop what is known of a model (deleted, created again). */
export function forget(model) {
  shown.delete(model);
}
