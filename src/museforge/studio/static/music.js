/* The music page: sample, play, more like this, breed two; the grid refreshes when a
   batch is done (also after a reload: the queue's events say so). */
"use strict";

studio.pageKinds = ["music"];
studio.onJobDone = refreshTiles;

async function refreshTiles() {
  const ticked = new Set(picked());  // a refresh while a job keeps results keeps the ticks
  const response = await fetch("/music/tiles", { credentials: "same-origin" });
  document.getElementById("tiles").innerHTML = await response.text();
  for (const box of document.querySelectorAll('[data-action="pick"]')) {
    box.checked = ticked.has(box.closest("[data-id]").dataset.id);
  }
  updateBreed();
}

document.getElementById("sample-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  data.delete("amount");
  await startJob("/music/sample", data);
  toast("sampling melodies…");
});

studio.tileActions.play = async (tile, button) => {
  document.querySelectorAll("audio").forEach((a) => { if (a !== tile.querySelector("audio")) a.pause(); });
  const audio = tile.querySelector("audio");
  if (audio.paused) {
    await audio.play();
    button.textContent = "❚❚ Pause";
    tile.classList.add("playing");
    audio.onended = audio.onpause = () => { button.textContent = "▶ Play"; tile.classList.remove("playing"); };
  } else {
    audio.pause();
  }
};

studio.tileActions.vary = async (tile) => {
  const form = document.getElementById("sample-form");
  const data = {
    parent: tile.dataset.id,
    model: form.elements.model.value,
    amount: document.getElementById("amount").value,
    n: form.elements.n.value > 8 ? 4 : form.elements.n.value,
    seed: form.elements.seed.value,
  };
  await startJob("/music/vary", data);
  toast(`variations at amount ${data.amount}…`);
};

studio.tileActions.continue = async (tile) => {
  const form = document.getElementById("sample-form");
  await startJob("/music/continue", {
    parent: tile.dataset.id, model: form.elements.model.value, bars: 2, n: 2, seed: form.elements.seed.value,
  });
  toast("continuing…");
};

function picked() {
  return [...document.querySelectorAll('[data-action="pick"]:checked')].map((box) => box.closest("[data-id]").dataset.id);
}

function updateBreed() {
  const button = document.getElementById("breed");
  const two = picked();
  button.disabled = two.length !== 2;
  button.textContent = two.length === 2 ? "Breed the two" : `Breed the two (${two.length} ticked)`;
  document.getElementById("compare").disabled = two.length !== 2;
}

studio.tileActions.pick = updateBreed;

document.getElementById("breed").addEventListener("click", async () => {
  const [a, b] = picked();
  const form = document.getElementById("sample-form");
  await startJob("/music/breed", { a, b, model: form.elements.model.value, n: document.getElementById("children").value });
  toast("breeding…");
});

document.getElementById("compare").addEventListener("click", () => {
  const [a, b] = picked();
  location.href = `/compare?a=${a}&b=${b}`;
});

updateBreed();
