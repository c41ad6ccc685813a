// Enhancements only: the page works without this file.
// - "select all" checkboxes;
// - live refresh: every 15 s the page is fetched again and its main part
//   replaced, keeping what the user selected and typed.
"use strict";

function wireSelectAll(root) {
  for (const all of root.querySelectorAll("input.all")) {
    all.addEventListener("change", () => {
      const table = all.closest("table");
      for (const box of table.querySelectorAll("input[name=alert]")) {
        box.checked = all.checked;
      }
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
    const answer = await fetch(location.href, { headers: { "Accept": "text/html" } });
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
  wireSelectAll(fresh);
  document.title = page.title;
  const updated = page.getElementById("updated");
  if (updated) document.getElementById("updated").textContent = updated.textContent;
}

document.addEventListener("DOMContentLoaded", () => {
  wireSelectAll(document);
  setInterval(refresh, 15000);
});
