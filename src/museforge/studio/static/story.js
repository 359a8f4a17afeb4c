/* Stories: start one; regenerate a part into alternatives, accept one, undo. */
"use strict";

const storyBox = document.querySelector("[data-story]");
studio.pageKinds = storyBox ? ["story-regenerate"] : ["story-new"];
studio.onJobDone = (job) => {
  if (job.kind === "story-new" && job.result && job.result.story) {
    location.href = `/story/${job.result.story}`;
  } else {
    location.reload();
  }
};

const newForm = document.getElementById("story-form");
if (newForm) {
  newForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    await startJob("/story/new", new FormData(event.target));
    toast("planning the story…");
  });
}

if (storyBox) {
  const story = storyBox.dataset.story;
  const node = storyBox.dataset.node;
  document.getElementById("regen-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await startJob(`/story/${story}/regenerate`, new FormData(event.target));
    toast(`writing alternatives for ${node}…`);
  });
  document.querySelectorAll("[data-accept]").forEach((button) => {
    button.addEventListener("click", async () => {
      await post(`/story/${story}/accept`, { node, version: button.dataset.accept });
      location.reload();
    });
  });
  const undo = async () => {
    await post(`/story/${story}/undo`, { node });
    location.reload();
  };
  document.getElementById("undo").addEventListener("click", undo);
  studio.pageUndo = undo;
  const redo = async () => {
    await post(`/story/${story}/redo`, { node });
    location.reload();
  };
  document.getElementById("redo").addEventListener("click", redo);
  studio.pageRedo = redo;
}
