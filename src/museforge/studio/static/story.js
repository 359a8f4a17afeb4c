/* Stories: start one; regenerate a part into alternatives, accept one, undo. */
"use strict";

const storyBox = document.querySelector("[data-story]");
studio.pageKinds = storyBox ? ["story-regenerate", "story-continue", "story-rewrite"] : ["story-new"];
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

  const editForm = document.getElementById("edit-form");
  const current = document.getElementById("current-text");
  document.getElementById("edit").addEventListener("click", () => {
    editForm.hidden = false;
    current.hidden = true;
    editForm.elements.text.focus();
  });
  document.getElementById("edit-cancel").addEventListener("click", () => {
    editForm.hidden = true;
    current.hidden = false;
  });
  editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    await post(`/story/${story}/edit`, { node, text: editForm.elements.text.value });
    location.reload();
  });

  let selection = null;  // the person's selection in the text, as character offsets
  document.addEventListener("selectionchange", () => {
    const chosen = document.getSelection();
    if (!chosen.rangeCount || chosen.isCollapsed || !chosen.toString().trim()) return;
    const range = chosen.getRangeAt(0).cloneRange();
    if (!current.contains(range.startContainer)) return;  // it must begin in the text
    if (!current.contains(range.endContainer)) range.setEnd(current, current.childNodes.length);
    const before = document.createRange();
    before.selectNodeContents(current);
    before.setEnd(range.startContainer, range.startOffset);
    const start = before.toString().length;
    const end = Math.min(current.textContent.length, start + range.toString().length);
    if (end > start) {
      selection = { start, end };
      document.getElementById("rewrite-form").dataset.selection = `${start}-${end}`;
    }
  });
  document.getElementById("rewrite-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!selection) { toast("error: select some of the text first", { error: true }); return; }
    const data = { node, ...selection, instruction: event.target.elements.instruction.value, seed: 0 };
    await startJob(`/story/${story}/rewrite`, data);
    toast(`rewriting: ${data.instruction}…`);
  });
  document.getElementById("continue-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await startJob(`/story/${story}/continue`, new FormData(event.target));
    toast("writing on…");
  });
}
