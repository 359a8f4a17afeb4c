/* The image page: stylise with an uploaded style picture; sample GAN faces. */
"use strict";

studio.pageKinds = ["image"];
studio.onJobDone = async () => {
  const response = await fetch("/image/tiles", { credentials: "same-origin" });
  document.getElementById("tiles").innerHTML = await response.text();
};

for (const id of ["style-form", "gan-form"]) {
  document.getElementById(id).addEventListener("submit", async (event) => {
    event.preventDefault();
    await startJob(event.target.getAttribute("action"), new FormData(event.target));
    toast(id === "style-form" ? "painting…" : "sampling faces…");
  });
}
