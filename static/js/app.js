// Webcare Inbox client behaviour. No inline scripts anywhere (CSP-ready).
document.addEventListener("DOMContentLoaded", () => {
  // The language switch submits on change for mouse users; the button stays for keyboard users.
  const lang = document.getElementById("language-select");
  if (lang) lang.addEventListener("change", () => lang.form.submit());
});
