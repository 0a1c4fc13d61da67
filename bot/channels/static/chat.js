// Boussole's web chat, a little faster: the same forms, posted with fetch, the new turn
// appended to the conversation. Without this script every form posts as usual.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !window.fetch || !window.FormData) return;
  var busy = false;

  function said(text) {
    var p = document.createElement("p");
    p.className = "said";
    var hidden = document.createElement("span");
    hidden.className = "sr-only";
    hidden.textContent = "Vous avez choisi : ";
    p.appendChild(hidden);
    p.appendChild(document.createTextNode(text));
    return p;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (busy || !(form instanceof HTMLFormElement) || form.method !== "post") return;
    event.preventDefault();
    var button = event.submitter;
    var data = new FormData(form);
    if (button && button.name) data.set(button.name, button.value);
    var label = button && button.name === "a" ? button.textContent.trim() : "";
    var input = form.querySelector("input[name=text]");
    busy = true;
    var buttons = document.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(data),
      headers: { "X-Boussole-Fragment": "1" },
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      log.querySelectorAll(".turn").forEach(function (t) { t.classList.add("old"); });
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var turn = holder.firstElementChild;
      if (!turn) return;
      if (label) turn.insertBefore(said(label), turn.firstChild);
      log.appendChild(turn);
      var token = turn.getAttribute("data-token");
      if (token) {
        document.querySelectorAll("input[name=t]").forEach(function (t) { t.value = token; });
      }
      if (input) input.value = "";
      var first = turn.querySelector(".msg");
      if (first) {
        first.scrollIntoView({ block: "start" });
        if (!input) first.focus({ preventScroll: true });
      }
    }).catch(function () {
      busy = false;
      form.submit(); // the page without the script: nothing is lost
    }).finally(function () {
      busy = false;
      buttons.forEach(function (b) { b.disabled = false; });
      if (input) input.focus({ preventScroll: true });
    });
  });
})();
