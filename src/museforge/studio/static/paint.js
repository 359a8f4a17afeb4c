/* The paint page: paint a picture as a job, watch its time-lapse frame by frame, download
   the plotter files. The paintings refresh when the job is done (after a reload too). */
"use strict";

studio.pageKinds = ["paint"];
studio.onJobDone = async () => {
  const response = await fetch("/paint/tiles", { credentials: "same-origin" });
  document.getElementById("tiles").innerHTML = await response.text();
};

document.getElementById("paint-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  await startJob("/paint/draw", new FormData(event.target));
  toast("painting…");
});

function showFrame(tile, index) {
  const frame = tile.querySelector("img.frame");
  const slider = tile.querySelector("input.frames");
  slider.value = index;
  slider.parentElement.querySelector("output").textContent = index;
  frame.src = `/paint/frames/${frame.dataset.gif}/${index}`;
  frame.hidden = false;
  tile.querySelector("img.still").hidden = true;
}

studio.tileActions.watch = async (tile, button) => {
  const slider = tile.querySelector("input.frames");
  const last = Number(slider.max);
  button.disabled = true;
  for (let index = 0; index <= last; index += 1) {
    showFrame(tile, index);
    await new Promise((resolve) => { setTimeout(resolve, 120); });
  }
  tile.classList.add("watched");
  button.disabled = false;
};

document.addEventListener("input", (event) => {
  if (event.target.matches("input.frames")) showFrame(event.target.closest("[data-id]"), Number(event.target.value));
});
