// The web UI's entry: the two views (#chat, #models), the error banner, and the links between
// them. Plain ES modules, no build step; every text from the server or a model reaches the page
// as text nodes (markdown.js builds elements, never HTML).

import { initChat, refreshModels as refreshChatModels, useModel } from "./chat.js";
import { initModels, showModels } from "./models.js";
import { clearError, showError } from "./util.js";

const $ = (id) => document.getElementById(id);

function route() {
  const view = location.hash === "#models" ? "models" : "chat";
  $("view-chat").hidden = view !== "chat";
  $("view-models").hidden = view !== "models";
  for (const name of ["chat", "models"]) {
    const tab = $(`nav-${name}`);
    if (name === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (view === "models") showModels();
  document.body.dataset.view = view;
}

window.addEventListener("error", (event) => showError(event.message || "The page failed."));
window.addEventListener("unhandledrejection", (event) => showError(event.reason || "The page failed."));

async function start() {
  $("banner-close").addEventListener("click", clearError);
  window.addEventListener("hashchange", route);
  document.addEventListener("models-changed", () => refreshChatModels());
  document.addEventListener("use-model", async (event) => {
    location.hash = "#chat";
    await useModel(event.detail);
    $("prompt").focus();
  });
  initModels();
  route();
  await initChat();
  document.body.dataset.ready = "true";
}

start().catch(showError);
