// Enhancements only: the page works without this file.
// - "select all" checkboxes;
// - the name typed in "your name" (open mode) is remembered in this browser;
// - "forget" asks first; Enter in the note box adds the note;
// - live: the page listens to /api/stream (server-sent events) and fetches
//   itself again within a moment of a change, keeping what the user
//   selected and typed; every 15 s too, should the stream be cut; the tab's
//   title and icon say how many alerts are raised;
// - "tell me of raises": a browser notification per raise, once allowed.
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
  const icon = page.querySelector("link[rel=icon]");
  const mine = document.querySelector("link[rel=icon]");
  if (icon && mine && mine.getAttribute("href") !== icon.getAttribute("href")) {
    mine.setAttribute("href", icon.getAttribute("href"));
  }
  const updated = page.getElementById("updated");
  if (updated) document.getElementById("updated").textContent = updated.textContent;
}

// Fetches the page again shortly after a change (many changes at once are
// one fetch).
let soon = null;
function refreshSoon() {
  if (soon) return;
  soon = setTimeout(() => {
    soon = null;
    refresh();
  }, 150);
}

function listen() {
  if (!window.EventSource) return;
  const stream = new EventSource("/api/stream");
  // Leaving the page ends its stream at once (a browser keeps only a few
  // connections per server).
  window.addEventListener("pagehide", () => stream.close());
  stream.addEventListener("change", (event) => {
    let change = {};
    try {
      change = JSON.parse(event.data);
    } catch (e) {
      // A change all the same.
    }
    if (change.raised && window.Notification && Notification.permission === "granted") {
      new Notification(`raised: ${change.subject || change.source}`, {
        body: `${change.summary} (${change.source} / ${change.id})`,
        tag: `${change.source}/${change.id}`,
      });
    }
    refreshSoon();
  });
}

function offerNotifications() {
  const button = document.getElementById("notify-raises");
  if (!button || !window.Notification || Notification.permission !== "default") return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await Notification.requestPermission();
    button.hidden = true;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  // A refused action shows its page again at /actions: the address
  // becomes that page's, so that a reload or a refresh shows it.
  const back = document.querySelector("input[name=back]");
  if (location.pathname === "/actions" && back) {
    history.replaceState(null, "", back.value);
  }
  wire(document);
  offerNotifications();
  listen();
  setInterval(refresh, 15000);
});
