// The shell: the key prompt, the navigation, and one view at a time chosen by the URL hash
// (#ask, #traces, #traces/ID, #eval, #eval/ID, #documents).

import { ApiError, UNAUTHORIZED, api, forgetKey, getKey, setKey } from "./api.js";
import { clear } from "./dom.js";
import * as ask from "./ask.js";
import * as documents from "./documents.js";
import * as evals from "./evals.js";
import * as traces from "./traces.js";

const VIEWS = { ask, traces, eval: evals, documents };
const $ = (id) => document.getElementById(id);
let current = null; // the AbortController of the view on screen

function showPrompt(message) {
  current?.abort();
  clear($("view"));
  $("view").hidden = true;
  $("session").hidden = true;
  $("key-prompt").hidden = false;
  $("key-error").hidden = !message;
  $("key-error").textContent = message || "";
  $("key-input").value = "";
  $("key-input").focus();
}

function showApp() {
  const key = getKey();
  $("key-prompt").hidden = true;
  $("view").hidden = false;
  $("session").hidden = false;
  $("key-label").textContent = `key …${key.slice(-4)}`;
  route();
}

function route() {
  if (!getKey()) return showPrompt();
  const [name, ...rest] = (location.hash.slice(1) || "ask").split("/").map(decodeURIComponent);
  const view = VIEWS[name] ? name : "ask";
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === view);
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  current?.abort();
  current = new AbortController();
  const main = clear($("view"));
  main.dataset.view = view;
  VIEWS[view].render(main, rest, current.signal);
}

async function submitKey(event) {
  event.preventDefault();
  const key = $("key-input").value.trim();
  const button = event.submitter || $("key-form").querySelector("button");
  button.disabled = true;
  try {
    await api("/v1/traces?limit=1", { key }); // any call: a 401 means the key is wrong
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401 || err.status === 0) {
      button.disabled = false;
      return showPrompt(err.status === 401 ? `This key was not accepted: ${err.message}.` : err.message);
    } // 403 (no read scope) or 429: the key itself is valid
  }
  button.disabled = false;
  setKey(key, $("key-remember").checked);
  showApp();
}

window.addEventListener(UNAUTHORIZED, (event) => {
  if (!getKey()) return; // the key prompt's own check reports it
  forgetKey();
  showPrompt(`Your key was not accepted: ${event.detail.message}. Enter a valid key.`);
});
window.addEventListener("hashchange", route);
$("key-form").addEventListener("submit", submitKey);
$("sign-out").addEventListener("click", () => { forgetKey(); showPrompt(); });

if (getKey()) showApp();
else showPrompt();
