// The coordinator's inbox: keyboard triage, selection, the panel and htmx glue. No inline JS.
(() => {
  "use strict";

  const ACTION_KEYS = { f: "forward", a: "assign", n: "no_reply", h: "hide", "!": "flag", l: "labels" };
  let current = -1; // index of the keyboard cursor in the row list
  let pendingAction = null; // action to open once the panel has loaded

  const rows = () => Array.from(document.querySelectorAll("[data-row]"));
  const panel = () => document.getElementById("panel");

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }

  function setCurrent(index) {
    const list = rows();
    if (!list.length) return;
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach((row, i) => row.classList.toggle("is-current", i === current));
    const row = list[current];
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function currentRow() {
    const list = rows();
    if (current < 0 || current >= list.length) {
      const marked = document.querySelector("[data-row].is-current");
      return marked || null;
    }
    return list[current];
  }

  function openedId() {
    const conv = panel() && panel().querySelector("[data-conversation]");
    return conv ? conv.dataset.conversation : null;
  }

  function openRow(row) {
    if (!row) return;
    const link = row.querySelector("[data-open-panel]");
    if (!link) return;
    // Ask htmx directly: a row that has just been swapped in may not be processed by htmx yet,
    // and a plain click on it would leave the inbox for the full conversation page.
    if (window.htmx) {
      window.htmx.ajax("GET", link.getAttribute("hx-get"), { target: "#panel", swap: "innerHTML" });
    } else {
      link.click();
    }
  }

  function openAction(name) {
    const details = document.getElementById("action-" + name);
    if (!details) return false;
    panel().querySelectorAll("details.action[open]").forEach((d) => { d.open = false; });
    details.open = true;
    const field = details.querySelector("select, input:not([type=hidden]), textarea, button");
    if (field) field.focus();
    return true;
  }

  function act(name) {
    const row = currentRow();
    if (row && openedId() !== row.dataset.id) {
      pendingAction = name;
      openRow(row);
    } else if (!openAction(name) && row) {
      pendingAction = name;
      openRow(row);
    }
  }

  function reply() {
    const composer = document.querySelector("#panel textarea[name=text]:not([id^=note-text])") ||
      document.querySelector("#panel [data-composer] textarea");
    if (composer) { composer.focus(); return; }
    const row = currentRow();
    if (row && openedId() !== row.dataset.id) { pendingAction = "reply"; openRow(row); }
  }

  function toggleHelp() {
    const dialog = document.getElementById("help-dialog");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  function updateBulkCount() {
    const count = document.querySelector("[data-bulk-count]");
    if (!count) return;
    const n = document.querySelectorAll(".row-select:checked").length;
    count.textContent = n ? n + " ✓" : "";
    // Phones show the bulk bar only while something is selected (app.css).
    const inbox = document.querySelector("[data-inbox]");
    if (inbox) inbox.classList.toggle("is-selecting", n > 0);
  }

  function showBulkFields() {
    const select = document.querySelector("#bulk-form select[name=action]");
    if (!select) return;
    document.querySelectorAll("[data-bulk-for]").forEach((el) => {
      // One field can serve several actions ("label unlabel").
      el.hidden = !el.dataset.bulkFor.split(" ").includes(select.value);
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      const open = document.querySelector("#panel details.action[open]");
      if (open) { open.open = false; return; }
    }
    if (typing(event.target)) return;
    const key = event.key;
    if (key === "?") { event.preventDefault(); toggleHelp(); return; }
    if (!document.querySelector("[data-inbox]") && !ACTION_KEYS[key] && key !== "r") return;
    if (key === "j") { event.preventDefault(); setCurrent(current + 1); }
    else if (key === "k") { event.preventDefault(); setCurrent(current - 1); }
    else if (key === "o" || key === "Enter") {
      if (event.target.closest("a, button, summary")) return;
      event.preventDefault(); openRow(currentRow());
    } else if (key === "x") {
      const row = currentRow();
      const box = row && row.querySelector(".row-select");
      if (box) { event.preventDefault(); box.checked = !box.checked; updateBulkCount(); }
    } else if (key === "r") { event.preventDefault(); reply(); }
    else if (ACTION_KEYS[key]) { event.preventDefault(); act(ACTION_KEYS[key]); }
  });

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (target.closest("[data-help-open]")) { toggleHelp(); return; }
    if (target.closest("[data-close-panel]")) {
      const p = panel();
      if (p && p.closest("[data-inbox]")) {
        p.innerHTML = "";
        p.classList.remove("is-open");
        const row = currentRow();
        if (row) row.focus();
      } else {
        window.location.href = "/inbox/";
      }
      return;
    }
    const row = target.closest("[data-row]");
    if (row) {
      const index = rows().indexOf(row);
      if (index >= 0) {
        current = index;
        rows().forEach((r, i) => r.classList.toggle("is-current", i === current));
      }
    }
  });

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches("[data-select-all]")) {
      document.querySelectorAll(".row-select").forEach((box) => { box.checked = target.checked; });
    }
    if (target.matches(".row-select, [data-select-all]")) updateBulkCount();
    if (target.matches("#bulk-form select[name=action]")) showBulkFields();
  });

  // htmx: conflict (409) and validation (400/403) messages are fragments meant to be shown.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    if (status === 409 || status === 400 || status === 403) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.body.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (target && target.id === "panel") {
      target.classList.add("is-open");
      if (pendingAction === "reply") { pendingAction = null; reply(); }
      else if (pendingAction) { const name = pendingAction; pendingAction = null; openAction(name); }
      else if (!target.contains(document.activeElement)) target.focus({ preventScroll: true });
    }
    if (target && (target.id === "inbox-results" || target.id === "inbox-rows")) {
      // Rows prepended above the cursor: keep the same conversation under it.
      const marked = document.querySelector("[data-row].is-current");
      current = marked ? rows().indexOf(marked) : -1;
    }
    // A bulk result replaces or removes rows out of band: count what is still selected.
    updateBulkCount();
  });

  document.addEventListener("DOMContentLoaded", () => {
    showBulkFields();
    updateBulkCount();
    // On a phone the filters start closed even when some are active ("Filters (active)"),
    // so they do not push the rows off the first screen.
    if (window.matchMedia("(max-width: 799px)").matches) {
      document.querySelectorAll("[data-inbox] details.filters[open]").forEach((d) => { d.open = false; });
    }
    if (panel() && panel().querySelector("[data-conversation]")) panel().classList.add("is-open");
  });
})();
