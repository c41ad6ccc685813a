// Enhancements only: the page works without this file.
// - "select all" checkboxes;
// - the name typed in "your name" (open mode) is remembered in this browser;
// - "forget" asks first; Enter in the note box adds the note;
// - live refresh: every 15 s the page is fetched again and its main part
//   replaced, keeping what the user selected and typed.
"use strict";

const NAME_KEY = "mauved.by";

function wire(root) {
  for (const all of root.querySelectorAll("input.all")) {
    all.addEventListener("change", () => {
      const table = all.closest("table");
      for (const box of table.querySelectorAll("input[name=alert]")) {
        box.checked = all.checked;
      }
    });
  }
  for (const by of root.querySelectorAll("input[name=by]")) {
    if (!by.value) {
      by.value = localStorage.getItem(NAME_KEY) || "";
    }
    by.addEventListener("change", () => {
      if (by.value.trim()) localStorage.setItem(NAME_KEY, by.value.trim());
    });
  }
  for (const button of root.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (!confirm(button.dataset.confirm)) event.preventDefault();
    });
  }
  for (const note of root.querySelectorAll("input[name=text]")) {
    note.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const add = note.form.querySelector("button[value=note]");
      if (add) add.click();
    });
  }
  for (const form of root.querySelectorAll("form[action='/actions']")) {
    form.addEventListener("submit", () => {
      const by = form.querySelector("input[name=by]");
      if (by && by.value.trim()) localStorage.setItem(NAME_KEY, by.value.trim());
    });
  }
}

async function refresh() {
  const main = document.getElementById("main");
  if (!main || document.activeElement && document.activeElement.type === "text") {
    return;
  }
  const picked = new Set(
    [...main.querySelectorAll("input[name=alert]:checked")].map((b) => b.value)
  );
  let text;
  try {
    const answer = await fetch(location.pathname + location.search, { headers: { "Accept": "text/html" } });
    if (!answer.ok) return;
    text = await answer.text();
  } catch (e) {
    return;
  }
  const page = new DOMParser().parseFromString(text, "text/html");
  const fresh = page.getElementById("main");
  if (!fresh) return;
  main.replaceWith(fresh);
  for (const box of fresh.querySelectorAll("input[name=alert]")) {
    box.checked = picked.has(box.value);
  }
  wire(fresh);
  document.title = page.title;
  const updated = page.getElementById("updated");
  if (updated) document.getElementById("updated").textContent = updated.textContent;
}

document.addEventListener("DOMContentLoaded", () => {
  // A refused action shows its page again at /actions: the address
  // becomes that page's, so that a reload or a refresh shows it.
  const back = document.querySelector("input[name=back]");
  if (location.pathname === "/actions" && back) {
    history.replaceState(null, "", back.value);
  }
  wire(document);
  setInterval(refresh, 15000);
});
