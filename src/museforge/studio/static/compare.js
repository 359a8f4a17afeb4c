/* A/B compare: prefer one of the two (it is starred, and the choice shows). */
"use strict";

document.querySelectorAll("[data-prefer]").forEach((button) => {
  button.addEventListener("click", async () => {
    const sides = [...document.querySelectorAll(".side")];
    const mine = button.closest(".side");
    const other = sides.find((s) => s !== mine);
    await post("/compare/prefer", { winner: mine.dataset.id, other: other.dataset.id });
    sides.forEach((s) => s.classList.toggle("preferred", s === mine));
    toast(`preferred ${mine.dataset.side}: starred`);
  });
});
