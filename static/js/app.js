/* Page behaviour the CSP allows (a static file, no inline script, no eval).
 *
 * - HTMX error answers never replace a region that holds a [data-error-slot]: the message
 *   goes into the slot, so the checkout summary (price and Pay) stays and later requests
 *   still find their target. Covers 429/5xx answers, a network failure and a timeout.
 * - The coupon field is tied to whatever error the summary shows (aria-invalid,
 *   aria-describedby), and forms busy with an HTMX request say so (aria-busy).
 * - Forms marked [data-once] disable their submit button after the first submit and show
 *   its data-busy-label ("Redirecting to secure payment…").
 * - [data-copy] buttons copy a value to the clipboard.
 * - [data-confirm-panel] forms show a confirmation step before submitting.
 */
(function () {
  "use strict";

  var FALLBACK = "We couldn't reach the server. Check your connection and try again.";

  function slotFor(target) {
    if (!target) return null;
    if (target.matches && target.matches("[data-error-slot]")) return target;
    return target.querySelector ? target.querySelector("[data-error-slot]") : null;
  }

  function targetOf(detail) {
    if (detail.target) return detail.target;
    var elt = detail.elt;
    var selector = elt && elt.closest("[hx-target]") && elt.closest("[hx-target]").getAttribute("hx-target");
    return selector ? document.querySelector(selector) : null;
  }

  function messageFrom(html) {
    if (!html) return null;
    try {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var node = doc.querySelector("[role=alert], .alert, .lead, h1");
      var text = node && node.textContent.trim();
      return text || null;
    } catch (e) {
      return null;
    }
  }

  function showError(slot, message) {
    slot.textContent = "";
    var p = document.createElement("p");
    p.className = "alert alert-error";
    p.id = slot.id ? slot.id + "-text" : "request-error";
    p.setAttribute("role", "alert");
    p.setAttribute("data-reason", "request_failed");
    p.textContent = message || FALLBACK;
    slot.appendChild(p);
    syncCouponField();
  }

  function syncCouponField() {
    var input = document.getElementById("coupon-code");
    if (!input) return;
    var errors = [];
    ["coupon-error", "checkout-message-text"].forEach(function (id) {
      if (document.getElementById(id)) errors.push(id);
    });
    if (errors.length) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", errors.join(" "));
    } else {
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", "coupon-hint");
    }
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr ? detail.xhr.status : 0;
    if (status < 400) return;
    var target = targetOf(detail);
    var slot = slotFor(target);
    if (!slot) return;
    // A replacement for the whole region (e.g. the summary with a refused coupon) may swap.
    var response = detail.serverResponse || "";
    if (target.id && response.indexOf('id="' + target.id + '"') !== -1) {
      detail.shouldSwap = true;
      detail.isError = false;
      return;
    }
    detail.shouldSwap = false;
    detail.isError = false;
    showError(slot, messageFrom(response));
  });

  function onFailure(event) {
    var slot = slotFor(targetOf(event.detail));
    if (slot) showError(slot, FALLBACK);
  }
  document.addEventListener("htmx:sendError", onFailure);
  document.addEventListener("htmx:timeout", onFailure);

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var target = targetOf(event.detail);
    [elt, target].forEach(function (node) {
      if (node && node.setAttribute) node.setAttribute("aria-busy", "true");
    });
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    var target = targetOf(event.detail);
    [elt, target].forEach(function (node) {
      if (node && node.removeAttribute) node.removeAttribute("aria-busy");
    });
  });
  document.addEventListener("htmx:afterSwap", syncCouponField);
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (target && target.removeAttribute) target.removeAttribute("aria-busy");
    var form = document.getElementById("coupon-form");
    if (form) form.removeAttribute("aria-busy");
    syncCouponField();
  });

  // Submit once: the first click disables the button and says what happens next.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-once]")) return;
    if (form.getAttribute("data-submitted") === "true") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-submitted", "true");
    form.setAttribute("aria-busy", "true");
    var button = event.submitter || form.querySelector("button[type=submit]");
    if (button) {
      var label = button.getAttribute("data-busy-label");
      if (label) {
        button.setAttribute("data-idle-label", button.textContent);
        button.textContent = label;
      }
      // Disabled after the submit event has been dispatched, so the form still goes.
      window.setTimeout(function () {
        button.disabled = true;
        button.setAttribute("aria-disabled", "true");
      }, 0);
    }
  });
  // Coming back with the browser's Back button restores a page whose button was disabled.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once][data-submitted]").forEach(function (form) {
      form.removeAttribute("data-submitted");
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button[data-idle-label]").forEach(function (button) {
        button.textContent = button.getAttribute("data-idle-label");
        button.disabled = false;
        button.removeAttribute("aria-disabled");
      });
    });
  });

  // Copy buttons for long ids.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var value = button.getAttribute("data-copy");
    var done = function () {
      var old = button.getAttribute("aria-label") || "";
      button.setAttribute("data-copied", "true");
      button.setAttribute("aria-label", "Copied");
      window.setTimeout(function () {
        button.removeAttribute("data-copied");
        button.setAttribute("aria-label", old);
      }, 1500);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(value).then(done, function () {});
    }
  });

  // Confirmation step: the first submit shows a panel naming what will happen.
  function confirmText(form) {
    var all = form.querySelector("input[name=refund_all]:checked");
    var amountInput = form.querySelector("input[name=amount]");
    var amount = all ? form.getAttribute("data-remaining") : (amountInput && amountInput.value.trim());
    var code = form.getAttribute("data-currency-code");
    if (!all && amount && code && /^[\d.,\s]+$/.test(amount)) amount = amount + " " + code;
    return form.getAttribute("data-confirm-template").replace("{amount}", amount || "");
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-confirm-panel]")) return;
    if (form.getAttribute("data-confirmed") === "true") return;
    event.preventDefault();
    var panel = document.getElementById(form.getAttribute("data-confirm-panel"));
    if (!panel) return;
    var text = panel.querySelector("[data-confirm-text]");
    if (text && form.getAttribute("data-confirm-template")) text.textContent = confirmText(form);
    panel.hidden = false;
    form.querySelectorAll("[data-review]").forEach(function (b) { b.hidden = true; });
    var go = panel.querySelector("[data-confirm-go]");
    if (go) go.focus();
  });
  document.addEventListener("click", function (event) {
    var go = event.target.closest && event.target.closest("[data-confirm-go]");
    var back = event.target.closest && event.target.closest("[data-confirm-back]");
    if (!go && !back) return;
    var panel = (go || back).closest("[data-confirm-for]");
    var form = panel && document.getElementById(panel.getAttribute("data-confirm-for"));
    if (!form) return;
    if (back) {
      panel.hidden = true;
      form.querySelectorAll("[data-review]").forEach(function (b) { b.hidden = false; });
      return;
    }
    form.setAttribute("data-confirmed", "true");
    go.disabled = true;
    form.requestSubmit ? form.requestSubmit() : form.submit();
  });

  // Refund form: "all that remains" clears and disables the amount; otherwise an amount is required.
  function syncRefundAll(box) {
    var amount = box.form && box.form.querySelector("input[name=amount]");
    if (!amount) return;
    amount.disabled = box.checked;
    amount.required = !box.checked;
    if (box.checked) amount.value = "";
  }
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches && box.matches("input[name=refund_all]")) syncRefundAll(box);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[name=refund_all]").forEach(syncRefundAll);
  });

  document.addEventListener("DOMContentLoaded", syncCouponField);
})();

/* The compact header menu on narrow screens. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest(".menu-toggle");
    if (!toggle) return;
    var header = toggle.closest(".site-header");
    var open = !header.classList.contains("menu-open");
    header.classList.toggle("menu-open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var header = document.querySelector(".site-header.menu-open");
    if (!header) return;
    header.classList.remove("menu-open");
    var toggle = header.querySelector(".menu-toggle");
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  });
})();

/* Coupon states that depend on the clock, when the server did not decide them. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var now = Date.now();
    document.querySelectorAll("[data-state=active][data-valid-until], [data-state=active][data-valid-from]").forEach(function (badge) {
      var until = Date.parse(badge.getAttribute("data-valid-until") || "");
      var from = Date.parse(badge.getAttribute("data-valid-from") || "");
      if (!isNaN(until) && until <= now) {
        badge.textContent = "Expired";
        badge.className = "badge badge-warn";
        badge.setAttribute("data-state", "expired");
      } else if (!isNaN(from) && from > now) {
        badge.textContent = "Scheduled";
        badge.className = "badge";
        badge.setAttribute("data-state", "scheduled");
      }
    });
  });
})();
