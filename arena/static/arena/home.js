// The arena page: terms on first visit, then a prompt sent to two anonymous models.
import { postJSON } from "./common.js";

const terms = document.getElementById("terms");
const form = document.getElementById("battle-form");
const error = document.getElementById("form-error");
const prompt = document.getElementById("prompt");
const custom = document.getElementById("custom-models");

document.getElementById("terms-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await postJSON("/api/consent", {
      accept_terms: document.getElementById("accept-terms").checked,
      publish: document.getElementById("publish-consent").checked,
    });
    terms.hidden = true;
    form.hidden = false;
    prompt.focus();
    joinRoom();
  } catch (err) {
    error.textContent = err.message;
  }
});

// In a workshop room, a seat is taken once the terms are accepted (now, or on an earlier
// visit), never by loading the page: a link preview fills no seat.
async function joinRoom() {
  if (!form.dataset.workshop) return;
  try {
    await postJSON(`/api/workshops/${encodeURIComponent(form.dataset.workshop)}/join`, {});
  } catch (err) {
    error.textContent = err.message;
  }
}
if (!form.hidden) joinRoom();

for (const button of document.querySelectorAll("button.example")) {
  button.addEventListener("click", () => { prompt.value = button.textContent; prompt.focus(); });
}

// The model list is fetched only when custom mode is picked: a random battle's pages
// never carry a model name.
async function loadModels() {
  if (custom.dataset.loaded) return;
  const room = form.dataset.workshop ? `?workshop=${encodeURIComponent(form.dataset.workshop)}` : "";
  const response = await fetch(`/api/models${room}`, { credentials: "same-origin" });
  const { models } = await response.json();
  for (const model of models) {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), { type: "checkbox", name: "models", value: model.slug });
    label.append(box, " ", model.name);
    custom.append(label);
  }
  custom.dataset.loaded = "1";
  custom.setAttribute("aria-busy", "false");
}

for (const radio of form.querySelectorAll("input[name=mode]")) {
  radio.addEventListener("change", () => {
    const isCustom = radio.value === "custom" && radio.checked;
    custom.hidden = !isCustom;
    if (isCustom) loadModels();
  });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const mode = form.querySelector("input[name=mode]:checked").value;
  const models = [...form.querySelectorAll("input[name=models]:checked")].map((box) => box.value);
  const send = document.getElementById("send");
  send.disabled = true;
  try {
    const body = { prompt: prompt.value, mode, models: mode === "custom" ? models : [] };
    if (form.dataset.workshop) body.workshop = form.dataset.workshop; // the room's battle
    const battle = await postJSON("/api/battles", body);
    window.location.assign(battle.url);
  } catch (err) {
    error.textContent = err.message;
    send.disabled = false;
  }
});
