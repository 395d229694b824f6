// The chat view: the model picker, the conversation streamed from /api/chat (NDJSON read with
// fetch and a ReadableStream), the stop button (AbortController: the server frees the slot when
// the request goes), settings, images for vision models, and the conversations, kept in
// localStorage and exported as JSON.

import { getJSON, lines, request, show } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { downloadJSON, fileToBase64, h, imageType, showError } from "./util.js";

const STORE = "ollama-toolkit.conversations";
const CURRENT = "ollama-toolkit.current";
const SETTINGS = "ollama-toolkit.settings";
const DEFAULT_MODEL = "smollm2:135m"; // the bundled chat model, when nothing was chosen yet

const $ = (id) => document.getElementById(id);

let conversations = [];
let currentId = null;
let settings = {};
let generation = null; // {controller, reply, view} while a reply streams
let attachments = []; // [{name, data}] images for the next message
let vision = false; // whether the selected model takes images
let capsRequest = 0;

function readJSON(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key));
    return value ?? fallback;
  } catch {
    return fallback;
  }
}

function save() {
  const text = JSON.stringify(conversations);
  try {
    localStorage.setItem(STORE, text);
  } catch {
    // Storage full (images take room): keep the text of every conversation, drop images.
    const light = conversations.map((c) => ({
      ...c,
      messages: c.messages.map(({ images, ...rest }) => (images ? { ...rest, images_dropped: images.length } : rest)),
    }));
    try {
      localStorage.setItem(STORE, JSON.stringify(light));
      showError("Browser storage is full: the images of the conversations were not kept.");
    } catch {
      showError("Browser storage is full: this conversation is not saved.");
    }
  }
  if (currentId) localStorage.setItem(CURRENT, currentId);
}

function saveSettings() {
  localStorage.setItem(SETTINGS, JSON.stringify(settings));
}

function current() {
  let conversation = conversations.find((c) => c.id === currentId);
  if (!conversation) {
    conversation = newConversation();
  }
  return conversation;
}

function newConversation() {
  const conversation = {
    id: crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random()),
    title: "New chat",
    created: new Date().toISOString(),
    messages: [],
  };
  conversations.unshift(conversation);
  currentId = conversation.id;
  return conversation;
}

// --- the conversations list ------------------------------------------------------------------

function renderConversations() {
  const list = $("conversations");
  list.replaceChildren(
    ...conversations
      .filter((c) => c.messages.length || c.id === currentId)
      .map((c) =>
        h(
          "li",
          { class: c.id === currentId ? "active" : "" },
          h("button", {
            type: "button",
            class: "conv",
            text: c.title || "New chat",
            title: c.title,
            "aria-current": c.id === currentId ? "true" : undefined,
            onclick: () => openConversation(c.id),
          }),
          h("button", {
            type: "button",
            class: "plain remove",
            text: "✕",
            "aria-label": `Delete the conversation "${c.title}"`,
            onclick: () => deleteConversation(c.id),
          }),
        ),
      ),
  );
}

function openConversation(id) {
  if (generation) stop();
  currentId = id;
  const conversation = current();
  if (conversation.model && [...$("model-select").options].some((o) => o.value === conversation.model)) {
    $("model-select").value = conversation.model;
    modelChanged();
  }
  save();
  renderConversations();
  renderMessages();
  $("prompt").focus();
}

function deleteConversation(id) {
  const conversation = conversations.find((c) => c.id === id);
  if (!conversation || !confirm(`Delete the conversation "${conversation.title}"?`)) return;
  if (generation && id === currentId) stop();
  conversations = conversations.filter((c) => c.id !== id);
  if (id === currentId) currentId = conversations[0]?.id ?? null;
  current();
  save();
  renderConversations();
  renderMessages();
}

// --- messages --------------------------------------------------------------------------------

function statsText(stats) {
  const parts = [];
  if (Number.isFinite(stats.eval_count)) parts.push(`${stats.eval_count} tokens`);
  if (stats.eval_count && stats.eval_duration > 0) {
    parts.push(`${(stats.eval_count / (stats.eval_duration / 1e9)).toFixed(1)} tokens/s`);
  }
  if (Number.isFinite(stats.ttft_ms)) parts.push(`first token ${Math.round(stats.ttft_ms)} ms`);
  if (Number.isFinite(stats.prompt_eval_count)) parts.push(`prompt ${stats.prompt_eval_count} tokens`);
  if (stats.done_reason === "length") parts.push("cut at the token limit");
  return parts.join(" · ");
}

function renderMessage(message, view = h("article")) {
  const wasOpen = view.querySelector(":scope > details.thinking")?.open ?? false;
  view.className = `message ${message.role}`;
  const parts = [h("div", { class: "who", text: message.role === "user" ? "You" : message.model || "Assistant" })];
  if (message.images?.length) {
    parts.push(
      h(
        "div",
        { class: "images" },
        message.images.map((data, n) =>
          h("img", { src: `data:${imageType(data)};base64,${data}`, alt: `Attached image ${n + 1}` }),
        ),
      ),
    );
  }
  if (message.thinking) {
    const details = h(
      "details",
      { class: "thinking" },
      h("summary", { text: message.content || message.stats ? "Thinking" : "Thinking…" }),
      h("div", { class: "thinking-text" }, renderMarkdown(message.thinking)),
    );
    details.open = wasOpen;
    parts.push(details);
  }
  if (message.role === "user") {
    parts.push(h("div", { class: "content plain", text: message.content }));
  } else if (message.content) {
    parts.push(h("div", { class: "content" }, renderMarkdown(message.content)));
  }
  if (message.tool_calls?.length) {
    parts.push(
      h(
        "div",
        { class: "tool-calls" },
        message.tool_calls.map((call) =>
          h(
            "div",
            { class: "tool-call" },
            h("div", { class: "tool-name", text: `Tool call: ${call.function?.name ?? "?"}` }),
            h("pre", {}, h("code", { text: JSON.stringify(call.function?.arguments ?? {}, null, 2) })),
          ),
        ),
      ),
    );
  }
  if (message.role === "assistant" && !message.content && !message.thinking && !message.tool_calls?.length && !message.error && !message.stats && !message.stopped) {
    parts.push(h("div", { class: "content waiting", text: "…" }));
  }
  if (message.error) parts.push(h("p", { class: "error", role: "alert", text: message.error }));
  if (message.stopped) parts.push(h("p", { class: "note", text: "Stopped." }));
  if (message.stats) parts.push(h("p", { class: "stats", text: statsText(message.stats) }));
  if (message.images_dropped) {
    parts.push(h("p", { class: "note", text: `${message.images_dropped} image(s) not kept (storage full).` }));
  }
  view.replaceChildren(...parts);
  return view;
}

function renderMessages() {
  const box = $("messages");
  const conversation = current();
  box.replaceChildren(
    ...(conversation.messages.length
      ? conversation.messages.map((m) => renderMessage(m))
      : [h("p", { id: "empty-chat", class: "empty", text: "Pick a model and send a message." })]),
  );
  box.scrollTop = box.scrollHeight;
}

function scrolledToEnd(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

// --- options ---------------------------------------------------------------------------------

const OPTION_INPUTS = [
  ["opt-temperature", "temperature", parseFloat],
  ["opt-num-ctx", "num_ctx", (v) => parseInt(v, 10)],
  ["opt-num-predict", "num_predict", (v) => parseInt(v, 10)],
];

function requestOptions() {
  const options = {};
  for (const [id, name, parse] of OPTION_INPUTS) {
    const text = $(id).value.trim();
    if (!text) continue;
    const value = parse(text);
    if (Number.isFinite(value)) options[name] = value;
  }
  return options;
}

// --- sending and stopping --------------------------------------------------------------------

function setBusy(busy) {
  $("send").hidden = busy;
  $("stop").hidden = !busy;
  $("chat-status").textContent = busy ? "The model is answering." : "The answer is complete.";
}

async function send() {
  if (generation) return;
  const text = $("prompt").value;
  const model = $("model-select").value;
  if (!text.trim() && !attachments.length) return;
  if (!model) {
    showError("No model is selected: pull or create one on the Models page.");
    return;
  }
  const conversation = current();
  const user = { role: "user", content: text };
  if (attachments.length) user.images = attachments.map((a) => a.data);
  if (!conversation.messages.length) conversation.title = (text.trim() || "Image").split("\n")[0].slice(0, 60);
  conversation.model = model;
  conversation.updated = new Date().toISOString();
  const history = conversation.messages
    .filter((m) => !(m.role === "assistant" && !m.content && !m.tool_calls?.length))
    .map(({ role, content, images, tool_calls }) => ({ role, content, ...(images && { images }), ...(tool_calls && { tool_calls }) }));
  conversation.messages.push(user);
  const reply = { role: "assistant", content: "", model };
  conversation.messages.push(reply);
  $("prompt").value = "";
  attachments = [];
  renderAttachments();
  renderConversations();
  renderMessages();
  save();

  const system = $("opt-system").value.trim();
  const messages = [...(system ? [{ role: "system", content: system }] : []), ...history, wire(user)];
  const body = { model, messages, stream: true };
  const options = requestOptions();
  if (Object.keys(options).length) body.options = options;

  const box = $("messages");
  const view = box.lastElementChild;
  const controller = new AbortController();
  generation = { controller, reply, view };
  setBusy(true);
  const started = performance.now();
  let firstToken = null;
  try {
    const response = await request("/api/chat", { method: "POST", body, signal: controller.signal });
    for await (const batch of lines(response)) {
      for (const chunk of batch) {
        const message = chunk.message || {};
        if (firstToken === null && (message.content || message.thinking || message.tool_calls?.length)) {
          firstToken = performance.now() - started;
        }
        if (message.content) reply.content += message.content;
        if (message.thinking) reply.thinking = (reply.thinking || "") + message.thinking;
        if (message.tool_calls?.length) reply.tool_calls = [...(reply.tool_calls || []), ...message.tool_calls];
        if (chunk.done) {
          reply.stats = {
            eval_count: chunk.eval_count,
            eval_duration: chunk.eval_duration,
            prompt_eval_count: chunk.prompt_eval_count,
            total_duration: chunk.total_duration,
            done_reason: chunk.done_reason,
            ttft_ms: firstToken ?? undefined,
          };
        }
      }
      const follow = scrolledToEnd(box);
      renderMessage(reply, view);
      if (follow) box.scrollTop = box.scrollHeight;
    }
  } catch (error) {
    if (error.name === "AbortError") reply.stopped = true;
    else reply.error = error.message || String(error);
  } finally {
    generation = null;
    renderMessage(reply, view);
    setBusy(false);
    save();
    if (document.activeElement === document.body || document.activeElement === $("stop")) $("prompt").focus();
  }
}

function wire({ role, content, images }) {
  return images ? { role, content, images } : { role, content };
}

/** Cancel the reply being streamed: the request goes, and the server frees its slot. */
export function stop() {
  if (generation) generation.controller.abort();
}

// --- models and images -----------------------------------------------------------------------

/** Fill the model picker from /api/tags, keeping the selection when it is still there. */
export async function refreshModels() {
  const select = $("model-select");
  const previous = select.value || settings.model;
  let names = [];
  try {
    const tags = await getJSON("/api/tags");
    names = (tags.models || []).map((m) => m.name).sort();
  } catch (error) {
    showError(error);
  }
  select.replaceChildren(...names.map((name) => h("option", { value: name, text: name })));
  if (!names.length) select.append(h("option", { value: "", text: "No models: pull one", disabled: true }));
  const wanted = [previous, current().model, DEFAULT_MODEL].find((name) => names.includes(name));
  select.value = wanted ?? names[0] ?? "";
  await modelChanged();
}

/** Select a model (from the Models page's Chat button). */
export async function useModel(name) {
  $("model-select").value = name;
  await modelChanged();
}

async function modelChanged() {
  const model = $("model-select").value;
  settings.model = model;
  saveSettings();
  const caps = $("model-caps");
  const ticket = ++capsRequest;
  caps.replaceChildren();
  vision = false;
  $("attach-label").hidden = true;
  if (!model) return;
  try {
    const info = await show(model);
    if (ticket !== capsRequest) return;
    const capabilities = info.capabilities || [];
    caps.replaceChildren(...capabilities.map((c) => h("span", { class: `cap cap-${c}`, text: c })));
    vision = capabilities.includes("vision");
  } catch (error) {
    if (ticket === capsRequest) showError(error);
  }
  $("attach-label").hidden = !vision;
  if (!vision && attachments.length) {
    attachments = [];
    renderAttachments();
  }
}

function renderAttachments() {
  $("attachments").replaceChildren(
    ...attachments.map((a, n) =>
      h(
        "figure",
        { class: "attachment" },
        h("img", { src: `data:${imageType(a.data)};base64,${a.data}`, alt: a.name }),
        h("button", {
          type: "button",
          class: "plain remove",
          text: "✕",
          "aria-label": `Remove ${a.name}`,
          onclick: () => {
            attachments.splice(n, 1);
            renderAttachments();
          },
        }),
      ),
    ),
  );
}

async function attach(files) {
  for (const file of files) {
    try {
      attachments.push({ name: file.name, data: await fileToBase64(file) });
    } catch (error) {
      showError(error);
    }
  }
  renderAttachments();
}

// --- start -----------------------------------------------------------------------------------

export function initChat() {
  conversations = readJSON(STORE, []);
  if (!Array.isArray(conversations)) conversations = [];
  conversations = conversations.filter((c) => c && Array.isArray(c.messages));
  settings = readJSON(SETTINGS, {});
  if (typeof settings !== "object" || Array.isArray(settings)) settings = {};
  currentId = localStorage.getItem(CURRENT);
  if (!conversations.some((c) => c.id === currentId)) currentId = conversations[0]?.id ?? null;
  current();

  $("opt-system").value = settings.system ?? "";
  for (const [id, name] of OPTION_INPUTS) $(id).value = settings[name] ?? "";
  $("opt-system").addEventListener("input", () => {
    settings.system = $("opt-system").value;
    saveSettings();
  });
  for (const [id, name] of OPTION_INPUTS) {
    $(id).addEventListener("input", () => {
      settings[name] = $(id).value;
      saveSettings();
    });
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && generation && !document.querySelector("dialog[open]")) {
      event.preventDefault();
      stop();
    }
  });
  $("stop").addEventListener("click", stop);
  $("model-select").addEventListener("change", modelChanged);
  $("attach").addEventListener("change", async (event) => {
    await attach([...event.target.files]);
    event.target.value = "";
  });
  $("new-chat").addEventListener("click", () => {
    if (generation) stop();
    const empty = conversations.find((c) => !c.messages.length);
    if (empty) currentId = empty.id;
    else newConversation();
    save();
    renderConversations();
    renderMessages();
    $("prompt").focus();
  });
  $("export-chat").addEventListener("click", () => {
    const conversation = current();
    const name = (conversation.title || "chat").replace(/[^\w.-]+/g, "-").slice(0, 40) || "chat";
    downloadJSON(`${name}.json`, {
      ...conversation,
      system: $("opt-system").value || undefined,
      options: requestOptions(),
      exported: new Date().toISOString(),
    });
  });

  renderConversations();
  renderMessages();
  return refreshModels();
}
