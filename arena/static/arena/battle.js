// The battle page: both answers streamed over one WebSocket, next turns, stop, retry,
// reactions and the vote. Text arrives as deltas; the finished answer is replaced by
// the server's sanitized HTML. A socket that closes unexpectedly (its server restarted)
// is opened again, with a growing delay: the server then tells where each answer stands.
import { postJSON } from "./common.js";

const root = document.getElementById("battle");
const battleId = root.dataset.battle;
const errorBox = document.getElementById("battle-error");
const turns = document.getElementById("turns");
const voted = root.dataset.voted === "1";
let socket = null;
let leaving = false; // the page is being left (or reloaded for the reveal): a close is expected
const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 10000;
let reconnectMs = RECONNECT_FIRST_MS;
const lastSeq = { a: 0, b: 0 };
// Error codes of a command refused about a side, not of the side's failure.
const REFUSALS = new Set(["answer_streaming", "nothing_to_retry", "already_voted"]);

function currentAnswer(side) {
  const all = turns.querySelectorAll(`.turn:last-of-type .answer[data-side="${side}"]`);
  return all[all.length - 1];
}

function streaming() {
  return [...turns.querySelectorAll(".turn:last-of-type .answer")].some(
    (a) => a.dataset.status === "streaming" || a.dataset.status === "pending");
}

function connected() {
  return socket !== null && socket.readyState === WebSocket.OPEN;
}

function refreshControls() {
  const busy = streaming();
  const send = document.getElementById("send-next");
  const stop = document.getElementById("stop");
  const vote = document.getElementById("vote");
  if (send) send.disabled = busy || !connected();
  if (stop) stop.disabled = !busy || !connected();
  if (vote) vote.disabled = busy || [...turns.querySelectorAll(".turn:last-of-type .answer")].some((a) => a.dataset.status === "error");
}

function onFrame(frame) {
  const answer = frame.side ? currentAnswer(frame.side) : null;
  if (frame.type === "start") {
    lastSeq[frame.side] = 0;
    answer.dataset.status = "streaming";
    answer.querySelector(".body").textContent = "";
    answer.querySelector(".body").setAttribute("aria-busy", "true");
    answer.querySelector(".status").textContent = "";
    answer.querySelector(".retry").hidden = true;
  } else if (frame.type === "delta") {
    if (frame.seq !== lastSeq[frame.side] + 1) return; // out of order or repeated: ignore
    lastSeq[frame.side] = frame.seq;
    answer.querySelector(".body").append(frame.text);
  } else if (frame.type === "done" || frame.type === "stopped") {
    answer.dataset.status = frame.type;
    answer.dataset.message = frame.message_id;
    const body = answer.querySelector(".body");
    body.innerHTML = frame.html; // sanitized on the server (markdown-it + nh3)
    body.setAttribute("aria-busy", "false");
    // A stopped answer (the Stop button, or a page left mid-answer) says so; an answer with
    // no text (the model ended at once) says so too, rather than an empty box.
    answer.querySelector(".status").textContent =
      frame.type === "stopped" ? root.dataset.stopped : !frame.html ? root.dataset.empty : "";
    answer.querySelector(".answer-tools").hidden = frame.type !== "done";
    answer.querySelector(".retry").hidden = frame.type === "done";
  } else if (frame.type === "error") {
    if (answer && REFUSALS.has(frame.code)) {
      // A command refused about a side (a retry of an answer still streaming): the answer
      // goes on as it was; only the message is shown.
      answer.querySelector(".status").textContent = frame.message;
    } else if (answer) {
      answer.dataset.status = "error";
      answer.querySelector(".body").setAttribute("aria-busy", "false");
      answer.querySelector(".status").textContent = frame.message;
      answer.querySelector(".retry").hidden = false;
    } else {
      errorBox.textContent = frame.message;
    }
  }
  refreshControls();
}

function unfinishedAnswers() {
  return [...turns.querySelectorAll(".turn:last-of-type .answer")].filter(
    (a) => a.dataset.status === "streaming" || a.dataset.status === "pending");
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${window.location.host}${root.dataset.ws}`);
  socket.addEventListener("open", () => {
    reconnectMs = RECONNECT_FIRST_MS;
    for (const answer of unfinishedAnswers()) {
      const status = answer.querySelector(".status");
      if (status.textContent === root.dataset.lost) status.textContent = "";
    }
    refreshControls();
  });
  socket.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    refreshControls();
    if (leaving || event.code === 4403) return; // left, or not this visitor's battle
    // The answers keep their text: the next socket is told how each one ended (or ends).
    for (const answer of unfinishedAnswers()) {
      answer.querySelector(".status").textContent = root.dataset.lost;
    }
    setTimeout(connect, reconnectMs);
    reconnectMs = Math.min(reconnectMs * 2, RECONNECT_MAX_MS);
  });
}

window.addEventListener("pagehide", () => { leaving = true; });
window.addEventListener("pageshow", (event) => {
  if (!event.persisted || voted) return;
  leaving = false; // back from the browser's page cache, whose socket was closed
  if (!connected()) connect();
});

function send(message) {
  if (connected()) socket.send(JSON.stringify(message));
}

turns.addEventListener("click", async (event) => {
  const retry = event.target.closest("button.retry");
  if (retry) {
    send({ type: "retry", side: retry.closest(".answer").dataset.side });
    return;
  }
  const react = event.target.closest("button.react");
  if (react) {
    const answer = react.closest(".answer");
    const pressed = react.getAttribute("aria-pressed") === "true";
    const liked = pressed ? null : react.dataset.liked === "true";
    try {
      await postJSON(`/api/messages/${answer.dataset.message}/reaction`, { liked });
      for (const b of answer.querySelectorAll("button.react")) {
        b.setAttribute("aria-pressed", String(liked !== null && b.dataset.liked === String(liked)));
      }
    } catch (err) {
      errorBox.textContent = err.message;
    }
  }
});

const nextForm = document.getElementById("next-turn");
if (nextForm) {
  nextForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("next-prompt");
    const text = input.value.trim();
    if (!text || streaming() || !connected()) return;
    const turn = document.getElementById("turn-template").content.firstElementChild.cloneNode(true);
    turn.querySelector(".prompt").textContent = text;
    for (const answer of turn.querySelectorAll(".answer")) answer.dataset.status = "pending";
    turns.append(turn);
    input.value = "";
    errorBox.textContent = "";
    send({ type: "prompt", text });
    refreshControls();
  });
  document.getElementById("stop").addEventListener("click", () => send({ type: "stop" }));
}

const voteForm = document.getElementById("vote-form");
if (voteForm) {
  voteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(voteForm);
    const body = {
      choice: data.get("choice"),
      tags: { a: data.getAll("tags-a"), b: data.getAll("tags-b") },
      comments: { a: data.get("comment-a") || "", b: data.get("comment-b") || "" },
    };
    try {
      await postJSON(`/api/battles/${battleId}/vote`, body);
      leaving = true;
      window.location.reload(); // the server renders the reveal
    } catch (err) {
      errorBox.textContent = err.message;
    }
  });
}

for (const button of document.querySelectorAll("button.worth")) {
  button.addEventListener("click", async () => {
    try {
      await postJSON(`/api/battles/${battleId}/worth`, { worth: button.dataset.worth === "true" });
      for (const b of document.querySelectorAll("button.worth")) b.setAttribute("aria-pressed", String(b === button));
    } catch (err) {
      errorBox.textContent = err.message;
    }
  });
}

if (!voted) connect();
refreshControls();
