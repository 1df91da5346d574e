// convoflow console: pan and zoom for the canvas, the revision picker,
// and live updates. Hand-written, no build step; every page works without
// it.
"use strict";

// Pan (drag) and zoom (wheel, buttons) by changing the SVG's viewBox.
function interactive(box, keep) {
  const svg = box.querySelector("svg.flow-canvas");
  if (!svg) return;
  const full = svg.viewBox.baseVal;
  const home = [full.x, full.y, full.width, full.height];
  let vb = keep || home.slice();
  const apply = () => svg.setAttribute("viewBox", vb.join(" "));
  box.classList.add("interactive");
  box.viewBox = () => vb.slice();
  const zoom = (f, cx, cy) => {
    const w = vb[2] * f, h = vb[3] * f;
    if (w < 100 || w > home[2] * 8) return;
    vb = [cx - (cx - vb[0]) * f, cy - (cy - vb[1]) * f, w, h];
    apply();
  };
  const toSvg = (e) => {
    const r = svg.getBoundingClientRect();
    const s = Math.max(vb[2] / r.width, vb[3] / r.height);
    // preserveAspectRatio centres the drawing: undo the letterbox offset.
    const ox = (r.width * s - vb[2]) / 2, oy = (r.height * s - vb[3]) / 2;
    return [vb[0] - ox + (e.clientX - r.left) * s, vb[1] - oy + (e.clientY - r.top) * s, s];
  };
  box.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [x, y] = toSvg(e);
    zoom(e.deltaY < 0 ? 0.85 : 1 / 0.85, x, y);
  }, { passive: false });
  let drag = null;
  box.addEventListener("pointerdown", (e) => {
    if (e.target.closest("button")) return;
    drag = { x: e.clientX, y: e.clientY, vb: vb.slice(), s: toSvg(e)[2] };
    box.classList.add("dragging");
    box.setPointerCapture(e.pointerId);
  });
  box.addEventListener("pointermove", (e) => {
    if (!drag) return;
    vb = [drag.vb[0] - (e.clientX - drag.x) * drag.s, drag.vb[1] - (e.clientY - drag.y) * drag.s, vb[2], vb[3]];
    apply();
  });
  const stop = () => { drag = null; box.classList.remove("dragging"); };
  box.addEventListener("pointerup", stop);
  box.addEventListener("pointercancel", stop);
  const bar = document.createElement("div");
  bar.className = "zoom";
  for (const [label, title, act] of [
    ["+", "Zoom in", () => zoom(0.8, vb[0] + vb[2] / 2, vb[1] + vb[3] / 2)],
    ["−", "Zoom out", () => zoom(1.25, vb[0] + vb[2] / 2, vb[1] + vb[3] / 2)],
    ["⤢", "Fit", () => { vb = home.slice(); apply(); }],
  ]) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = label; b.title = title;
    b.addEventListener("click", act);
    bar.append(b);
  }
  box.append(bar);
  apply();
}

// refresh replaces every [data-live] region with the same region of a
// fresh copy of the page, keeping the canvas's view and open details.
let refreshing = null;
async function refresh() {
  if (refreshing) { refreshing.again = true; return; }
  refreshing = { again: false };
  try {
    const res = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!res.ok) return;
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    for (const old of document.querySelectorAll("[data-live][id]")) {
      const fresh = doc.getElementById(old.id);
      if (!fresh) continue;
      const views = [...old.querySelectorAll("[data-canvas]")].map((b) => b.viewBox && b.viewBox());
      const open = new Set([...old.querySelectorAll("details[open][data-key]")].map((d) => d.dataset.key));
      old.replaceWith(fresh);
      fresh.querySelectorAll("[data-canvas]").forEach((b, i) => interactive(b, views[i]));
      fresh.querySelectorAll("details[data-key]").forEach((d) => { if (open.has(d.dataset.key)) d.open = true; });
    }
  } finally {
    const again = refreshing.again;
    refreshing = null;
    if (again) refresh();
  }
}

// follow listens to an active execution's event stream and refreshes the
// page at every step, until the execution ends.
function follow(url) {
  const es = new EventSource(url);
  es.addEventListener("step", refresh);
  es.addEventListener("end", () => { es.close(); refresh(); });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-canvas]").forEach((b) => interactive(b));
  document.querySelectorAll("form[data-autosubmit] select").forEach((s) =>
    s.addEventListener("change", () => s.form.submit()));
  const live = document.querySelector("[data-events]");
  if (live) follow(live.dataset.events);
  const poll = document.querySelector("[data-poll]");
  // Counting costs the server a read per active execution: only for a
  // tab someone looks at.
  if (poll) setInterval(() => { if (!document.hidden) refresh(); }, Number(poll.dataset.poll));
});
