// Webcare Inbox client behaviour. No inline scripts anywhere (CSP-ready).
document.addEventListener("DOMContentLoaded", () => {
  // The language switch submits on change for mouse users; the button stays for keyboard users.
  const lang = document.getElementById("language-select");
  if (lang) lang.addEventListener("change", () => lang.form.submit());

  // Phones: the menu button shows and hides the navigation and tools (CSS hides the button and
  // shows everything from 800 px up). Escape or a click elsewhere closes it.
  const button = document.querySelector("[data-menu-button]");
  const menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!menu) return;
  const isOpen = () => button.getAttribute("aria-expanded") === "true";
  const setOpen = (open) => {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    menu.classList.toggle("is-open", open);
  };
  button.addEventListener("click", () => setOpen(!isOpen()));
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !isOpen()) return;
    const focusInMenu = menu.contains(document.activeElement);
    setOpen(false);
    if (focusInMenu || document.activeElement === button || document.activeElement === document.body) {
      button.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (isOpen() && !menu.contains(event.target) && !button.contains(event.target)) setOpen(false);
  });
});
