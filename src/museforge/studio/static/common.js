/* Shared by every page: changes sent with the CSRF token, the live queue (server-sent
   events), tile actions (rate, star, choose, discard with undo), keyboard, recipe drops. */
"use strict";

const studio = {
  pageKinds: [],          // job kinds whose completion refreshes this page
  onJobDone: () => {},    // what the page does when one finishes
  onJobUpdate: () => {},  // what the page does with each new state of one of its jobs
  tileActions: {},        // page-specific tile actions (play, vary, pick)
  seen: new Map(),        // job id -> last state seen
  items: new Map(),       // job id -> how many results it had kept when last seen
  waiting: new Map(),     // job id -> {resolve, reject}
  history: [],            // what the person did on this page, oldest first
  undoStack: [],          // entries of the history undo takes back, newest last
  redoStack: [],          // entries undo took back, for redo, newest last
  pageUndo: null,         // a page with its own undo and redo (a story part) sets these
  pageRedo: null,
};

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

async function post(url, data) {
  const body = data instanceof FormData ? data : new URLSearchParams(data || {});
  const response = await fetch(url, {
    method: "POST", body, credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() },
  });
  let json = {};
  try { json = await response.json(); } catch (e) { json = {}; }
  if (!response.ok) {
    const message = json.error || describeDetail(json.detail) || response.statusText;
    toast("error: " + message, { error: true });
    throw new Error(message);
  }
  return json;
}

function describeDetail(detail) {
  if (!Array.isArray(detail)) return detail ? String(detail) : "";
  return detail.map((d) => `${(d.loc || []).slice(-1)[0]}: ${d.msg}`).join("; ");
}

function toast(text, { error = false, action = null, label = "Undo" } = {}) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.className = "toast" + (error ? " error" : "");
  if (action) {
    const button = document.createElement("button");
    button.textContent = label;
    button.addEventListener("click", () => { box.hidden = true; action(); });
    box.appendChild(button);
  }
  box.hidden = false;
  clearTimeout(box.timer);
  box.timer = setTimeout(() => { box.hidden = true; }, error ? 8000 : 6000);
}

/* --- the queue -------------------------------------------------------------------- */

function jobLine(job) {
  const li = document.createElement("li");
  li.className = "job " + job.state;
  li.dataset.job = job.id;
  li.innerHTML = '<span class="label"></span> <span class="state"></span> ' +
    '<progress max="1"></progress> <span class="msg"></span>';
  li.querySelector(".label").textContent = job.label;
  li.querySelector(".state").textContent = job.state;
  li.querySelector("progress").value = job.progress;
  li.querySelector(".msg").textContent = job.message;
  if (job.state === "interrupted" || job.state === "failed") {
    const resume = document.createElement("button");
    resume.textContent = "Resume";
    resume.className = "resume";
    resume.addEventListener("click", () => post(`/api/jobs/${job.id}/resume`));
    li.appendChild(resume);
  }
  return li;
}

function showJobs(jobs) {
  for (const id of ["queue-list", "home-queue"]) {
    const list = document.getElementById(id);
    if (list) list.replaceChildren(...jobs.map(jobLine));
  }
  const active = jobs.filter((j) => j.state === "running" || j.state === "queued");
  const badge = document.getElementById("queue-badge");
  badge.textContent = active.length ? `${active.length} working` : "";
  badge.classList.toggle("busy", active.length > 0);
  document.getElementById("queue-panel").classList.toggle("open", active.length > 0);
  const status = document.getElementById("job-status");
  const mine = jobs.find((j) => studio.pageKinds.includes(j.kind) && (j.state === "running" || j.state === "queued"));
  if (status) {
    status.replaceChildren(...(mine ? [jobLine(mine)] : []));
  }
  for (const job of jobs) {
    if (studio.pageKinds.includes(job.kind)) studio.onJobUpdate(job);
    const before = studio.seen.get(job.id);
    studio.seen.set(job.id, job.state);
    const waiter = studio.waiting.get(job.id);
    const finished = ["done", "failed", "cancelled", "interrupted"].includes(job.state);
    if (waiter && finished) {
      studio.waiting.delete(job.id);
      job.state === "done" ? waiter.resolve(job) : waiter.reject(job);
    }
    const items = ((job.result || {}).items || []).length;
    const grew = studio.items.has(job.id) && items > studio.items.get(job.id);
    studio.items.set(job.id, items);
    const finishedNow = before && before !== "done" && job.state === "done";
    if (studio.pageKinds.includes(job.kind) && (finishedNow || (grew && job.state === "running"))) {
      studio.onJobDone(job);  // results appear one by one as the job keeps them
    }
    if (before && before !== job.state && job.state === "failed") {
      toast(`error: ${job.label}: ${job.message}`, { error: true });
    }
  }
}

function listen() {
  const source = new EventSource("/events/jobs");
  source.addEventListener("jobs", (event) => showJobs(JSON.parse(event.data)));
}

function waitForJob(id) {
  return new Promise((resolve, reject) => studio.waiting.set(id, { resolve, reject }));
}

async function startJob(url, data) {
  const { job } = await post(url, data);
  studio.seen.set(job, "queued");
  return job;
}

/* --- tiles ------------------------------------------------------------------------ */

async function tileAction(tile, action, button) {
  const id = tile.dataset.id;
  if (action === "rate") {
    const score = Number(button.dataset.score);
    await post(`/artifacts/${id}/rate`, { score });
    tile.querySelectorAll(".star").forEach((s, i) => s.classList.toggle("lit", i < score));
    toast(`rated ${score}`);
  } else if (action === "star") {
    const on = !button.classList.contains("on");
    await setStar(id, on);
    remember(`${on ? "starred" : "unstarred"} ${id.slice(0, 8)}`, () => setStar(id, !on), () => setStar(id, on));
  } else if (action === "choose") {
    await post(`/artifacts/${id}/choose`);
    tile.classList.add("chosen");
    const meta = tile.querySelector(".meta");
    if (meta && !meta.querySelector(".chosen-pill")) {
      meta.insertAdjacentHTML("beforeend", '<span class="pill chosen-pill">chosen</span>');
    }
    toast("chosen: kept with its batch as its lineage");
  } else if (action === "discard") {
    await discard(tile, button);
  } else if (studio.tileActions[action]) {
    await studio.tileActions[action](tile, button);
  }
}

async function setStar(id, on) {
  await post(`/artifacts/${id}/mark`, { mark: "star", on });
  document.querySelectorAll(`[data-id="${id}"]`).forEach((tile) => {
    const button = tile.querySelector('[data-action="star"]');
    if (button) { button.classList.toggle("on", on); button.textContent = on ? "♥" : "♡"; }
    tile.classList.toggle("starred", on);
  });
}

async function discard(tile, button) {
  const id = tile.dataset.id;
  const restoring = tile.classList.contains("discarded");
  await post(`/artifacts/${id}/mark`, { mark: "discard", on: !restoring });
  if (restoring || !tile.parentElement.classList.contains("grid")) {
    tile.classList.toggle("discarded", !restoring);
    button.textContent = restoring ? "Discard" : "Restore";
    return;
  }
  const place = { parent: tile.parentElement, next: tile.nextSibling };
  tile.remove();
  const undo = async () => {
    await post(`/artifacts/${id}/mark`, { mark: "discard", on: false });
    place.parent.insertBefore(tile, place.next);
    toast("brought back");
  };
  const redo = async () => {
    await post(`/artifacts/${id}/mark`, { mark: "discard", on: true });
    place.next = tile.nextSibling;
    tile.remove();
    toast("discarded again");
  };
  remember(`discarded ${id.slice(0, 8)}`, undo, redo);
  toast("Discarded (hidden, never deleted).", { action: undoLast });
}

/* --- undo and redo, with the history list ------------------------------------------- */

function remember(label, undo, redo) {
  const entry = { label, undo, redo, undone: false };
  studio.history.push(entry);
  studio.undoStack.push(entry);
  studio.redoStack.length = 0;
  showHistory();
}

async function undoLast() {
  if (studio.pageUndo) { await studio.pageUndo(); return; }
  const entry = studio.undoStack.pop();
  if (!entry) return;
  await entry.undo();
  entry.undone = true;
  studio.redoStack.push(entry);
  showHistory();
}

async function redoLast() {
  if (studio.pageRedo) { await studio.pageRedo(); return; }
  const entry = studio.redoStack.pop();
  if (!entry) return;
  await entry.redo();
  entry.undone = false;
  studio.undoStack.push(entry);
  showHistory();
}

function showHistory() {
  const panel = document.getElementById("history-panel");
  panel.hidden = studio.history.length === 0;
  document.getElementById("history-list").replaceChildren(...studio.history.map((entry) => {
    const li = document.createElement("li");
    li.textContent = entry.label;
    li.className = entry.undone ? "undone" : "";
    return li;
  }));
  document.getElementById("history-undo").disabled = studio.undoStack.length === 0;
  document.getElementById("history-redo").disabled = studio.redoStack.length === 0;
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  const tile = button && button.closest("[data-id]");
  if (!tile || button.dataset.action === "pick") return;
  event.preventDefault();
  tileAction(tile, button.dataset.action, button).catch(() => {});
});

document.addEventListener("change", (event) => {
  if (event.target.matches('[data-action="pick"]') && studio.tileActions.pick) {
    studio.tileActions.pick(event.target.closest("[data-id]"), event.target);
  }
});

document.addEventListener("input", (event) => {
  const output = event.target.type === "range" && event.target.parentElement.querySelector("output");
  if (output) output.textContent = event.target.value;
});

/* --- keyboard: arrows move, 1-5 rate, s stars, u undoes ------------------------------ */

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select")) return;
  const tiles = [...document.querySelectorAll(".grid .tile")];
  const at = tiles.indexOf(document.activeElement);
  const columns = Math.max(1, Math.round((tiles[0] && tiles[0].parentElement.clientWidth) / ((tiles[0] && tiles[0].offsetWidth) || 1)));
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns };
  if (event.key in moves && tiles.length) {
    const next = tiles[Math.min(tiles.length - 1, Math.max(0, (at < 0 ? 0 : at + moves[event.key])))];
    next.focus();
    event.preventDefault();
  } else if (event.key === "u") {
    undoLast().catch(() => {});
  } else if (event.key === "r") {
    redoLast().catch(() => {});
  } else if (at >= 0 && /^[1-5]$/.test(event.key)) {
    tileAction(tiles[at], "rate", tiles[at].querySelectorAll(".star")[Number(event.key) - 1]);
  } else if (at >= 0 && event.key === "s") {
    tileAction(tiles[at], "star", tiles[at].querySelector('[data-action="star"]'));
  }
});

/* --- a PNG from the studio carries its recipe: drop it to fill the form ---------------- */

function recipeFromPng(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  let at = 8;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.slice(at + 4, at + 8));
    if (type === "tEXt") {
      const text = new TextDecoder("latin1").decode(bytes.slice(at + 8, at + 8 + length));
      if (text.startsWith("museforge\0")) return JSON.parse(text.slice(10));
    }
    at += 12 + length;
  }
  return null;
}

function fillForm(recipe) {
  const forms = document.querySelectorAll("form");
  let filled = 0;
  for (const [key, value] of Object.entries(recipe)) {
    for (const form of forms) {
      const field = form.elements[key];
      if (field && field.type !== "file" && field.type !== "hidden") {
        field.value = value;
        field.dispatchEvent(new Event("input", { bubbles: true }));
        filled += 1;
      }
    }
  }
  toast(`recipe recalled: ${recipe.medium} ${recipe.verb}, seed ${recipe.seed}` + (filled ? "" : " (nothing to fill here)"));
}

document.addEventListener("dragover", (event) => {
  if (event.dataTransfer && [...event.dataTransfer.types].includes("Files")) {
    event.preventDefault();
    document.getElementById("drop-hint").hidden = false;
  }
});
document.addEventListener("dragleave", () => { document.getElementById("drop-hint").hidden = true; });
document.addEventListener("drop", async (event) => {
  const file = event.dataTransfer && event.dataTransfer.files[0];
  if (!file || event.target.type === "file") return;
  event.preventDefault();
  document.getElementById("drop-hint").hidden = true;
  const recipe = file.type === "image/png" ? recipeFromPng(await file.arrayBuffer()) : null;
  if (!recipe) { toast(`error: ${file.name} carries no museforge recipe`, { error: true }); return; }
  const page = ["music", "paint"].includes(recipe.medium) ? recipe.medium : "image";
  if (document.body.dataset.page !== page) {
    sessionStorage.setItem("museforge-recipe", JSON.stringify(recipe));
    location.href = "/" + page;
    return;
  }
  fillForm(recipe);
});

window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("history-undo").addEventListener("click", () => undoLast().catch(() => {}));
  document.getElementById("history-redo").addEventListener("click", () => redoLast().catch(() => {}));
  const kept = sessionStorage.getItem("museforge-recipe");
  if (kept) { sessionStorage.removeItem("museforge-recipe"); fillForm(JSON.parse(kept)); }
  listen();
});
