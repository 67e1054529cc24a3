/* Mon compte, progressive enhancement only (every page works without it): after a form is
   sent, move the focus to what the resident needs to hear first — the list of errors, or the
   confirmation — so a screen reader reads it and the keyboard continues from there. */
document.addEventListener("DOMContentLoaded", function () {
  var target = document.querySelector(".error-summary, .notice");
  if (!target) { return; }
  if (!target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
  target.focus();
});
