// The projector dashboard: figures pushed by the room's socket, debate questions by keyboard.
const root = document.querySelector(".projector");
const figures = document.getElementById("figures");
const status = document.getElementById("live-status");
const labels = { live: status.textContent, lost: status.dataset.lost || "…" };

function connect(attempt = 0) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${root.dataset.ws}`);
  socket.addEventListener("open", () => { attempt = 0; status.textContent = labels.live; });
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "stats") {
      figures.innerHTML = frame.html; // rendered by the server, in the page's language
      root.dataset.votes = frame.data.votes;
    } else if (frame.type === "error") {
      status.textContent = frame.message;
    }
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4403) return; // not the facilitator: nothing to retry
    status.textContent = labels.lost;
    setTimeout(() => connect(attempt + 1), Math.min(10000, 1000 * 2 ** attempt));
  });
}
connect();

// Debate questions: one at a time, large; buttons or the arrow keys move between them.
const questions = [...document.querySelectorAll("#questions > li")];
let shown = 0;
function show(index) {
  questions[shown].hidden = true;
  shown = (index + questions.length) % questions.length;
  questions[shown].hidden = false;
}
document.getElementById("next-question").addEventListener("click", () => show(shown + 1));
document.getElementById("prev-question").addEventListener("click", () => show(shown - 1));
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select")) return;
  if (event.key === "ArrowRight") show(shown + 1);
  if (event.key === "ArrowLeft") show(shown - 1);
});
