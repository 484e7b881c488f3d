"use strict";
// Shared by every refscope page: the data, tooltips on anything with data-tip, sortable tables.
const refscope = (() => {
  const data = JSON.parse(document.getElementById("refscope-data").textContent);
  const tip = document.createElement("div");
  tip.id = "tip";
  document.body.appendChild(tip);
  document.addEventListener("mouseover", (e) => {
    const t = e.target.closest && e.target.closest("[data-tip]");
    if (!t) { tip.style.display = "none"; return; }
    tip.textContent = t.getAttribute("data-tip");
    tip.style.display = "block";
  });
  document.addEventListener("mousemove", (e) => {
    if (tip.style.display !== "block") return;
    const x = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 6);
    tip.style.left = Math.max(0, x) + "px";
    tip.style.top = (e.clientY + 14) + "px";
  });
  const showTip = (text, x, y) => {
    tip.textContent = text; tip.style.display = "block";
    tip.style.left = Math.max(0, Math.min(x + 14, window.innerWidth - tip.offsetWidth - 6)) + "px";
    tip.style.top = (y + 14) + "px";
  };
  const hideTip = () => { tip.style.display = "none"; };
  // A cell sorts by its data-v (a number) when it has one, else by its text.
  const sortBy = (table, col, th) => {
    const body = table.tBodies[0];
    const desc = th.dataset.dir !== "desc";
    for (const h of th.parentNode.children) delete h.dataset.dir;
    th.dataset.dir = desc ? "desc" : "asc";
    const key = (r) => {
      const c = r.cells[col];
      if (!c) return "";
      return c.dataset.v !== undefined ? parseFloat(c.dataset.v) : c.textContent.trim().toLowerCase();
    };
    const rows = [...body.rows];
    rows.sort((a, b) => { const x = key(a), y = key(b); const c = x < y ? -1 : x > y ? 1 : 0; return desc ? -c : c; });
    for (const r of rows) body.appendChild(r);
  };
  for (const table of document.querySelectorAll("table.sortable")) {
    const head = table.tHead && table.tHead.rows[0];
    if (!head) continue;
    [...head.cells].forEach((th, i) => th.addEventListener("click", () => sortBy(table, i, th)));
  }
  return { data, showTip, hideTip };
})();
