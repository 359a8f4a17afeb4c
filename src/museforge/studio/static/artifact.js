/* The artifact page: reproduce it and say whether the bytes match. */
"use strict";

studio.pageKinds = ["reproduce"];
studio.onJobDone = () => location.reload();

const reproduceButton = document.getElementById("reproduce");
if (reproduceButton) {
  reproduceButton.addEventListener("click", async () => {
    reproduceButton.disabled = true;
    document.getElementById("reproduce-result").textContent = "Making it again…";
    await startJob(`/artifacts/${document.querySelector(".artifact").dataset.id}/reproduce`);
  });
}
