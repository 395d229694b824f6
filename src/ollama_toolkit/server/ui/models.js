// The models view: installed models (/api/tags, capabilities from /api/show), pull with a live
// progress bar (/api/pull's streamed completed/total), delete after a confirmation, create from
// a Modelfile typed here, and the running models (/api/ps) with their expiry and an unload
// button (a generate request with keep_alive 0).

import { forget, getJSON, lines, request, show } from "./api.js";
import { createRequest } from "./modelfile.js";
import { formatBytes, h, showError, untilText } from "./util.js";

const $ = (id) => document.getElementById(id);

function changed() {
  document.dispatchEvent(new CustomEvent("models-changed"));
}

function cell(label, ...children) {
  return h("td", { "data-label": label }, ...children);
}

export async function refreshModels() {
  let models = [];
  try {
    models = (await getJSON("/api/tags")).models || [];
  } catch (error) {
    showError(error);
    return;
  }
  models.sort((a, b) => a.name.localeCompare(b.name));
  const body = $("models-table").querySelector("tbody");
  body.replaceChildren(
    ...models.map((m) => {
      const caps = h("span", { class: "caps" });
      const badges = (list) => caps.replaceChildren(...list.map((c) => h("span", { class: `cap cap-${c}`, text: c })));
      if (Array.isArray(m.capabilities)) badges(m.capabilities); // newer servers list them here
      else {
        show(m.name)
          .then((info) => badges(info.capabilities || []))
          .catch(() => caps.replaceChildren(h("span", { class: "error", text: "unreadable" })));
      }
      const d = m.details || {};
      return h(
        "tr",
        { "data-model": m.name },
        cell("Name", h("span", { class: "model-name", text: m.name })),
        cell("Size", formatBytes(m.size)),
        cell("Family", d.family || ""),
        cell("Parameters", d.parameter_size || ""),
        cell("Quantisation", d.quantization_level || ""),
        cell("Capabilities", caps),
        cell(
          "Actions",
          h(
            "span",
            { class: "row" },
            h("button", {
              type: "button",
              class: "secondary",
              text: "Chat",
              "aria-label": `Chat with ${m.name}`,
              onclick: () => document.dispatchEvent(new CustomEvent("use-model", { detail: m.name })),
            }),
            h("button", {
              type: "button",
              class: "danger",
              text: "Delete",
              "aria-label": `Delete ${m.name}`,
              onclick: () => deleteModel(m.name),
            }),
          ),
        ),
      );
    }),
  );
  $("models-empty").hidden = models.length > 0;
}

async function deleteModel(name) {
  if (!confirm(`Delete the model ${name}? Its files are removed from this server.`)) return;
  try {
    await request("/api/delete", { method: "DELETE", body: { model: name } });
  } catch (error) {
    showError(error);
  }
  forget(name);
  await refreshModels();
  changed();
}

export async function refreshRunning() {
  let models = [];
  try {
    models = (await getJSON("/api/ps")).models || [];
  } catch (error) {
    showError(error);
    return;
  }
  const body = $("ps-table").querySelector("tbody");
  body.replaceChildren(
    ...models.map((m) =>
      h(
        "tr",
        { "data-model": m.name },
        cell("Name", h("span", { class: "model-name", text: m.name })),
        cell("Size", formatBytes(m.size)),
        cell("Context", m.context_length ? String(m.context_length) : ""),
        cell("Unloads", h("time", { datetime: m.expires_at, title: new Date(m.expires_at).toLocaleString(), text: untilText(m.expires_at) })),
        cell(
          "Actions",
          h("button", {
            type: "button",
            class: "secondary",
            text: "Unload",
            "aria-label": `Unload ${m.name}`,
            onclick: (event) => unload(m.name, event.target),
          }),
        ),
      ),
    ),
  );
  $("ps-empty").hidden = models.length > 0;
}

async function unload(name, button) {
  button.disabled = true;
  try {
    await request("/api/generate", { method: "POST", body: { model: name, keep_alive: 0, stream: false } });
  } catch (error) {
    showError(error);
  }
  await refreshRunning();
}

// --- pull ------------------------------------------------------------------------------------

let pulling = null;

async function pull(event) {
  event.preventDefault();
  if (pulling) return;
  const name = $("pull-name").value.trim();
  if (!name) return;
  const bar = $("pull-progress");
  const status = $("pull-status");
  const layers = new Map(); // digest → {total, completed}
  bar.max = 1;
  bar.value = 0;
  bar.hidden = false;
  status.className = "status";
  status.textContent = "Starting…";
  pulling = new AbortController();
  $("pull-button").disabled = true;
  $("pull-cancel").hidden = false;
  try {
    const response = await request("/api/pull", {
      method: "POST",
      body: { model: name, insecure: $("pull-insecure").checked, stream: true },
      signal: pulling.signal,
    });
    for await (const batch of lines(response)) {
      let last = null;
      for (const progress of batch) {
        last = progress;
        if (progress.digest && progress.total) {
          layers.set(progress.digest, { total: progress.total, completed: progress.completed || 0 });
        }
      }
      let total = 0;
      let completed = 0;
      for (const layer of layers.values()) {
        total += layer.total;
        completed += layer.completed;
      }
      if (total) {
        bar.max = total;
        bar.value = completed;
      }
      status.textContent = total
        ? `${last.status} — ${formatBytes(completed)} of ${formatBytes(total)}`
        : last.status;
      if (last.status === "success") {
        bar.value = bar.max;
        status.textContent = `success: ${name} is ready`;
      }
    }
    forget(name);
    await refreshModels();
    changed();
  } catch (error) {
    status.className = "status error";
    status.textContent = error.name === "AbortError" ? "Cancelled." : error.message;
  } finally {
    pulling = null;
    $("pull-button").disabled = false;
    $("pull-cancel").hidden = true;
  }
}

// --- create ----------------------------------------------------------------------------------

async function create(event) {
  event.preventDefault();
  const status = $("create-status");
  const name = $("create-name").value.trim();
  status.className = "status";
  let body;
  try {
    body = createRequest(name, $("create-modelfile").value);
  } catch (error) {
    status.className = "status error";
    status.textContent = error.message;
    return;
  }
  $("create-button").disabled = true;
  status.textContent = "Creating…";
  try {
    const response = await request("/api/create", { method: "POST", body });
    for await (const batch of lines(response)) {
      const last = batch[batch.length - 1];
      status.textContent = last.status === "success" ? `success: ${name} is ready` : last.status;
    }
    forget(name);
    await refreshModels();
    changed();
  } catch (error) {
    status.className = "status error";
    status.textContent = error.message;
  } finally {
    $("create-button").disabled = false;
  }
}

export function initModels() {
  $("refresh-models").addEventListener("click", refreshModels);
  $("refresh-ps").addEventListener("click", refreshRunning);
  $("pull-form").addEventListener("submit", pull);
  $("pull-cancel").addEventListener("click", () => pulling?.abort());
  $("create-form").addEventListener("submit", create);
}

export function showModels() {
  return Promise.all([refreshModels(), refreshRunning()]);
}
