/* trialtwin pages: the only script of our own (loaded with `defer`; no inline scripts, so the CSP can forbid them).
 *
 * 1. Every htmx request carries the session's CSRF token in the X-CSRF-Token header (read from
 *    <meta name="csrf-token">), in addition to the hidden `csrf_token` field every form has.
 * 2. An htmx request whose session has ended is redirected to the login page by the server; instead of swapping
 *    the login page into the fragment's target, the whole page goes to the login page (and back here after).
 * 3. Buttons with data-confirm ask before submitting (used for irreversible steps).
 */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) {
      event.detail.headers["X-CSRF-Token"] = token;
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || !xhr.responseURL) {
      return;
    }
    if (new URL(xhr.responseURL).pathname === "/login") {
      event.detail.shouldSwap = false;
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) {
      return;
    }
    var button = target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
})();
