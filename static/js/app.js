// The few things pages do in the browser, with no inline script (the
// Content-Security-Policy allows none). Listeners sit on the document, so
// they also serve content htmx swaps in later (a failed payment's form).
"use strict";

// A test card in the demo table fills the card field.
document.addEventListener("click", (event) => {
  const card = event.target.closest("[data-card-number]");
  if (!card) return;
  const field = document.getElementById("id_card_number");
  if (!field) return;
  field.value = card.dataset.cardNumber;
  field.dispatchEvent(new Event("input", { bubbles: true }));
  field.focus();
});

// The card field groups digits by four as they are typed and names the brand.
const BRANDS = [
  [/^4/, "Visa"],
  [/^(5[1-5]|2(2[2-9]|[3-6]\d|7[01]|720))/, "Mastercard"],
  [/^3[47]/, "American Express"],
  [/^6(011|5)/, "Discover"],
];

// Delete just before a group's space, or Backspace just after it, removes
// the digit beyond the space: the space alone would only come back.
document.addEventListener("keydown", (event) => {
  const field = event.target;
  if (field.id !== "id_card_number" || field.selectionStart !== field.selectionEnd) return;
  const caret = field.selectionStart;
  if (event.key === "Delete" && field.value[caret] === " ") {
    field.setSelectionRange(caret + 1, caret + 1);
  } else if (event.key === "Backspace" && caret > 0 && field.value[caret - 1] === " ") {
    field.setSelectionRange(caret - 1, caret - 1);
  }
});

document.addEventListener("input", (event) => {
  const field = event.target;
  if (field.id !== "id_card_number") return;
  const digits = field.value.replace(/[^0-9]/g, "").slice(0, 19);
  const grouped = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
  if (grouped !== field.value) {
    // Regrouping moves the caret to the end; put it back after as many digits
    // as it was after, so that a digit typed mid-number stays where it went.
    const caret = field.selectionStart;
    const before = field.value.slice(0, caret ?? field.value.length).replace(/[^0-9]/g, "").length;
    field.value = grouped;
    if (caret !== null && document.activeElement === field) {
      const at = Math.min(before, digits.length);
      const position = at + Math.max(0, Math.floor((at - 1) / 4));
      field.setSelectionRange(position, position);
    }
  }
  const brand = BRANDS.find(([pattern]) => pattern.test(digits));
  const label = document.getElementById("card-brand");
  if (!label) return;
  // Right beside the number it names.
  if (field.nextElementSibling !== label) field.insertAdjacentElement("afterend", label);
  label.textContent = brand ? brand[1] : "";
});

// Times are written in UTC by the server; show them in the reader's own zone,
// named ("14:03:07 CET"), once a page or a swapped fragment arrives. A date
// alone (data-local="date") is the day it was in that zone, with no zone.
function localTimes(root) {
  for (const element of root.querySelectorAll("time[datetime][data-local]")) {
    const when = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) continue;
    const options = { timeZoneName: "short" };
    if (element.dataset.local === "time") {
      Object.assign(options, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    } else if (element.dataset.local === "date") {
      Object.assign(options, { dateStyle: "medium" });
      delete options.timeZoneName;
    } else {
      Object.assign(options, { dateStyle: "medium", timeStyle: "short" });
      delete options.timeZoneName;
    }
    let text = when.toLocaleString(undefined, options);
    if (element.dataset.local === "datetime") {
      const zone = when.toLocaleTimeString(undefined, { timeZoneName: "short" }).split(" ").pop();
      text = `${text} ${zone}`;
    }
    element.textContent = text;
    element.title = when.toISOString();
  }
}
document.addEventListener("DOMContentLoaded", () => localTimes(document));
document.addEventListener("htmx:afterSwap", (event) => localTimes(event.detail.elt.parentElement || document));

// A file dropped on a [data-dropzone] goes into the file field inside it, as
// if picked; the form is then submitted as usual.
for (const type of ["dragenter", "dragover"]) {
  document.addEventListener(type, (event) => {
    const zone = event.target.closest?.("[data-dropzone]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.add("dropzone-over");
  });
}
document.addEventListener("dragleave", (event) => {
  const zone = event.target.closest?.("[data-dropzone]");
  if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("dropzone-over");
});
document.addEventListener("drop", (event) => {
  const zone = event.target.closest?.("[data-dropzone]");
  if (!zone) return;
  event.preventDefault();
  zone.classList.remove("dropzone-over");
  const input = zone.querySelector("input[type=file]");
  if (!input || !event.dataTransfer.files.length) return;
  input.files = event.dataTransfer.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
});

// What is wrong with the files chosen in a form, measured against its
// data-max-files, data-max-file-bytes and data-max-request-bytes; or "".
function tooMuchToSend(form) {
  const files = [...form.querySelectorAll("input[type=file]")].flatMap((input) => [...input.files]);
  const limit = (name) => Number(form.dataset[name]) || Infinity;
  const size = (bytes) => `${(bytes / (1024 * 1024)).toFixed(bytes % 1048576 ? 2 : 1)} MB`;
  if (files.length > limit("maxFiles")) {
    return `You chose ${files.length} files; at most ${limit("maxFiles")} go in one upload.`;
  }
  const big = files.find((file) => file.size > limit("maxFileBytes"));
  if (big) {
    return `${big.name} is ${size(big.size)}; the most for one file is ${size(limit("maxFileBytes"))}.`;
  }
  const total = files.reduce((sum, file) => sum + file.size, 0);
  if (total > limit("maxRequestBytes")) {
    return `These files come to ${size(total)}; at most ${size(limit("maxRequestBytes"))} go in one upload. Send them in smaller groups.`;
  }
  return "";
}

// A form marked [data-upload-progress] is sent in the background so that its
// <progress> can show how much of a large upload has gone. The server answers
// 204 (its messages saved for the next page) and the page is loaded again.
// Without JavaScript the form posts as usual and is redirected.
document.addEventListener("submit", (event) => {
  const form = event.target.closest?.("form[data-upload-progress]");
  if (!form || !window.XMLHttpRequest) return;
  event.preventDefault();
  const bar = form.querySelector("progress");
  const button = form.querySelector("button[type=submit]");
  const shown = form.querySelector("[data-upload-error]");
  const failed = (why) => {
    if (button) button.disabled = false;
    if (bar) bar.hidden = true;
    if (!shown) return window.alert(why);
    shown.textContent = why;
    shown.hidden = false;
  };
  // The server refuses these too; saying so here spares sending 200 MB first.
  const tooMuch = tooMuchToSend(form);
  if (tooMuch) return failed(tooMuch);
  if (shown) shown.hidden = true;
  const request = new XMLHttpRequest();
  request.open("POST", form.action || window.location.href);
  request.setRequestHeader("X-Upload-Progress", "1");
  request.upload.addEventListener("progress", (progress) => {
    if (!bar || !progress.lengthComputable) return;
    bar.hidden = false;
    bar.value = Math.round((100 * progress.loaded) / progress.total);
  });
  request.addEventListener("load", () => {
    const here = window.location.href.split("#")[0];
    if (request.status === 204) window.location.reload();
    // Sent elsewhere (the login page, once a session has expired): go there.
    else if (request.responseURL && request.responseURL.split("#")[0] !== here) {
      window.location.assign(request.responseURL);
    } else failed(`The upload was refused (${request.status}). Try fewer or smaller files.`);
  });
  request.addEventListener("error", () => {
    failed("The upload did not reach the server. Check your connection and try again.");
  });
  if (button) button.disabled = true;
  request.send(new FormData(form));
});

// A hidden tab asks nothing: the polls (job states, the bell, activity) skip
// their turns until it is shown again, and the next turn brings it up to date.
document.addEventListener("htmx:beforeRequest", (event) => {
  if (document.hidden) event.preventDefault();
});

// A [data-tick-all="name"] box ticks, or clears, every box of its form with
// that name (the operations page's failed jobs), and shows whether they all
// are ticked, also after a refresh has brought new rows (unticked).
const tickBoxes = (all) => [...all.form.querySelectorAll(`input[type="checkbox"][name="${all.dataset.tickAll}"]`)];
const showTickAll = (all) => {
  const boxes = tickBoxes(all);
  all.checked = boxes.length > 0 && boxes.every((box) => box.checked);
};
document.addEventListener("change", (event) => {
  const form = event.target.form;
  if (!form || event.target.type !== "checkbox") return;
  if (event.target.matches("[data-tick-all]")) {
    for (const box of tickBoxes(event.target)) box.checked = event.target.checked;
    return;
  }
  const all = form.querySelector(`input[data-tick-all="${event.target.name}"]`);
  if (all) showTickAll(all);
});
document.addEventListener("htmx:afterSwap", () => {
  for (const all of document.querySelectorAll("input[data-tick-all]")) showTickAll(all);
});

// A form marked [data-confirm] asks first: its text is the question.
document.addEventListener(
  "submit",
  (event) => {
    const form = event.target.closest?.("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true,
);
