// The progress of a CSV import (voxgate.web.progress).  A form marked data-progress is sent
// in the background; while the server works, the page asks it how far the import is
// (GET /imports/progress?id=...) and shows a progress bar: the file sent, the lines
// checked, the rows written.  The server's answer then replaces the page, exactly as the
// plain form would have (which is what happens without this script).
"use strict";

for (const form of document.querySelectorAll("form[data-progress]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const box = form.querySelector(".progress");
    const bar = box.querySelector("progress");
    const text = box.querySelector("[role=status]");
    const button = form.querySelector("button[type=submit]");
    const id = form.elements.namedItem("import_id").value;
    const number = (n) => n.toLocaleString("en");
    let finished = false;
    const show = (message, done, total) => {
      text.textContent = message;
      if (total > 0) {
        bar.max = total;
        bar.value = Math.min(done, total);
      } else {
        bar.removeAttribute("value");  // indeterminate
      }
    };
    const poll = async () => {
      if (finished) return;
      try {
        const answer = await fetch(`/imports/progress?id=${encodeURIComponent(id)}`,
                                   { credentials: "same-origin", cache: "no-store" });
        if (answer.ok && !finished) {
          const state = await answer.json();
          if (state.phase === "checking") {
            show(`Checking line ${number(state.done)} of about ${number(state.total)}…`,
                 state.done, state.total);
          } else if (state.phase === "writing") {
            show(`Importing row ${number(state.done)} of ${number(state.total)}…`,
                 state.done, state.total);
          }
        }
      } catch {
        // the next poll, or the answer, will tell
      }
      if (!finished) setTimeout(poll, 250);
    };
    const request = new XMLHttpRequest();
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        show(`Sending the file: ${Math.round((100 * e.loaded) / e.total)} %`, e.loaded, e.total);
      }
    });
    request.upload.addEventListener("load", () => {
      show("Checking the rows…", 0, 0);
      poll();
    });
    request.addEventListener("load", () => {
      finished = true;
      const sent = new URL(form.action, location.href).pathname;
      if (request.responseURL && new URL(request.responseURL).pathname !== sent) {
        location.assign(request.responseURL);  // done: the page that says so
        return;
      }
      document.open();  // refused: the page with the reasons, as the plain form shows it
      document.write(request.responseText);
      document.close();
    });
    request.addEventListener("error", () => {
      finished = true;
      show("The file could not be sent: check the connection and try again.", 0, 1);
      button.disabled = false;
    });
    button.disabled = true;
    box.hidden = false;
    show("Sending the file…", 0, 0);
    request.open("POST", form.action);
    request.send(new FormData(form));
  });
}
