/* The train page: start a training job; draw its loss curve live from the job's events. */
"use strict";

studio.pageKinds = ["train"];
studio.onJobDone = () => location.reload();
studio.onJobUpdate = (job) => {
  if (job.state !== "running" && job.state !== "done") return;
  const curve = (job.result || {}).curve;
  if (curve && curve.length) {
    drawCurve(curve);
    if (job.state === "running") document.getElementById("curve").dataset.live = "yes";
  }
  document.getElementById("curve-caption").textContent = `${job.label}: ${job.message}`;
};

function drawCurve(points) {
  const svg = document.getElementById("curve");
  const [width, height, pad] = [600, 240, 24];
  const steps = points.map((p) => p[0]);
  const losses = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...steps), Math.max(...steps, Math.min(...steps) + 1)];
  const [y0, y1] = [Math.min(...losses), Math.max(...losses)];
  const span = y1 - y0 || 1;
  const xy = points.map(([step, loss]) => [
    pad + ((step - x0) / (x1 - x0)) * (width - 2 * pad),
    pad + (1 - (loss - y0) / span) * (height - 2 * pad),
  ]);
  svg.querySelector("polyline").setAttribute("points", xy.map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" "));
  svg.dataset.points = String(points.length);
  svg.dataset.lastStep = String(steps[steps.length - 1]);
}

const kept = JSON.parse(document.getElementById("curve-data").textContent);
if (kept.length) drawCurve(kept);

for (const id of ["train-form", "melody-train-form"]) {
  document.getElementById(id).addEventListener("submit", async (event) => {
    event.preventDefault();
    await startJob(event.target.getAttribute("action"), new FormData(event.target));
    toast("training…");
  });
}
