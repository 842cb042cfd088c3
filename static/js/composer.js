// Reply composer: "/" opens the canned-answer search, picking one inserts it, and a quick
// character count runs while typing. The server's preview (composer_preview.html) is the
// truth; this count only gives instant feedback. No inline scripts (CSP).
(() => {
  if (window.webcareComposer) return; // loaded once even when fragments include it again
  window.webcareComposer = true;

  const URL_RE = /(?:https?:\/\/|www\.)[^\s<>"]+/gi;
  const segmenter = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter() : null;

  const graphemes = (text) => (segmenter ? [...segmenter.segment(text)].length : [...text].length);
  const isLight = (cp) =>
    (cp >= 0 && cp <= 4351) || (cp >= 8192 && cp <= 8205) || (cp >= 8208 && cp <= 8223) || (cp >= 8242 && cp <= 8247);

  // Mirrors inbox/replytext.py measure(); approximate for X (emoji sequences), exact enough to warn.
  function measure(kind, text) {
    if (kind === "bluesky") return graphemes(text);
    if (kind === "x" || kind === "mastodon") {
      let links = 0;
      const rest = text.replace(URL_RE, () => { links += 1; return ""; });
      if (kind === "mastodon") return [...rest].length + 23 * links;
      let n = 23 * links;
      for (const ch of rest) n += isLight(ch.codePointAt(0)) ? 1 : 2;
      return n;
    }
    return [...text].length;
  }

  function composerOf(el) { return el.closest("[data-composer]"); }

  function updateCount(textarea) {
    const box = composerOf(textarea);
    const out = box && box.querySelector("#composer-count");
    if (!out) return;
    const limit = parseInt(box.dataset.limit || "", 10);
    const length = measure(box.dataset.kind, textarea.value.trim() + (box.dataset.signature || ""));
    out.textContent = Number.isNaN(limit) ? `${length}` : `${length} / ${limit}`;
    out.classList.toggle("error", !Number.isNaN(limit) && length > limit);
  }

  // The "/word" being typed just before the caret, if any.
  function slashQuery(textarea) {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = before.match(/(?:^|\s)\/([\w-]*)$/);
    return match ? { query: match[1], start: before.length - match[1].length - 1 } : null;
  }

  function search(box, query) {
    const input = box.querySelector("#canned-q");
    if (!input) return;
    input.value = query;
    if (window.htmx) window.htmx.trigger(input, "search");
  }

  function insert(box, text) {
    const textarea = box.querySelector("#reply-text");
    const slash = slashQuery(textarea);
    const start = slash ? slash.start : textarea.selectionStart;
    const end = textarea.selectionStart;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    const caret = start + text.length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
    box.querySelector("#canned-results").replaceChildren();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("input", (event) => {
    const el = event.target;
    if (!(el instanceof HTMLTextAreaElement) || el.id !== "reply-text") return;
    updateCount(el);
    const slash = slashQuery(el);
    if (slash) search(composerOf(el), slash.query);
  });

  document.addEventListener("keydown", (event) => {
    const el = event.target;
    if (!(el instanceof HTMLElement)) return;
    const box = composerOf(el);
    if (!box) return;
    const options = [...box.querySelectorAll(".canned-option")];
    if (el.id === "reply-text" && event.key === "ArrowDown" && options.length && slashQuery(el)) {
      event.preventDefault();
      options[0].focus();
    } else if (el.classList.contains("canned-option") && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      const next = options.indexOf(el) + (event.key === "ArrowDown" ? 1 : -1);
      if (options[next]) options[next].focus();
    } else if (event.key === "Escape" && box.querySelector(".canned-list")) {
      box.querySelector("#canned-results").replaceChildren();
      box.querySelector("#reply-text").focus();
    }
  });

  // The suggestions panel (assist) sits beside the composer: its buttons fill the page's one.
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest(".suggestion-insert");
    const box = button && document.querySelector("[data-composer]");
    if (box) insert(box, button.dataset.text || "");
  });

  document.addEventListener("click", (event) => {
    const option = event.target instanceof Element && event.target.closest(".canned-option");
    if (!option) return;
    insert(composerOf(option), option.dataset.text || "");
  });

  const refresh = () => document.querySelectorAll("#reply-text").forEach(updateCount);
  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSettle", refresh);
})();
