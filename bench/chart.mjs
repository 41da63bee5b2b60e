// The report's chart (bench/reports/latest.png): one bar per target, measured against its
// goal, drawn as HTML in headless Chromium (already the bench's browser) and saved with a
// screenshot, so the PNG needs no charting package.
import { chromium } from "playwright-core";

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// Each bar's length is measured / goal on a scale where the goal sits at GOAL_AT; a bar
// past the right edge is cut and marked. "≥" targets fill towards the goal the same way.
const GOAL_AT = 0.5;

function row(t) {
  const color = t.ok === null ? "#9aa0a6" : t.ok ? "#1e8e3e" : "#d93025";
  const verdict = t.ok === null ? "n/a" : t.ok ? "met" : "missed";
  let bar;
  if (Number.isFinite(t.value) && Number.isFinite(t.goal)) {
    const frac = Math.min((t.value / t.goal) * GOAL_AT, 1);
    bar = `<div class="bar" style="width:${(frac * 100).toFixed(1)}%;background:${color}"></div>${frac >= 1 ? '<span class="cut">»</span>' : ""}<div class="goal" style="left:${GOAL_AT * 100}%"></div>`;
  } else if (t.value === undefined && t.ok !== null) {
    bar = `<div class="bar" style="width:${GOAL_AT * 100}%;background:${color}"></div><div class="goal" style="left:${GOAL_AT * 100}%"></div>`;
  } else bar = `<div class="goal" style="left:${GOAL_AT * 100}%"></div>`;
  const goal = t.goalText ?? `${t.dir === "le" ? "≤" : "≥"} ${t.goal.toFixed(2)}${t.unit ? ` ${t.unit}` : "×"}`;
  const measured = t.value === undefined ? t.detail : Number.isFinite(t.value) ? `${t.value.toFixed(2)}${t.unit ? ` ${t.unit}` : "×"}` : "n/a";
  return `<tr><td class="what">${esc(t.what)}</td><td class="track">${bar}</td><td class="num" style="color:${color}">${esc(measured)}</td><td class="num">${esc(goal)}</td><td class="num" style="color:${color}">${verdict}</td></tr>`;
}

export async function writeChart(targets, path, title) {
  const html = `<!doctype html><meta charset="utf-8"><style>
  body { margin: 0; font: 13px/1.3 system-ui, sans-serif; background: #fff; color: #202124; }
  #chart { padding: 16px 20px; width: 1100px; }
  h1 { font-size: 16px; margin: 0 0 4px; } p { margin: 0 0 12px; color: #5f6368; }
  table { border-collapse: collapse; width: 100%; }
  td { padding: 4px 6px; border-bottom: 1px solid #eee; white-space: nowrap; }
  td.what { width: 380px; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.track { position: relative; width: 360px; }
  .bar { height: 14px; border-radius: 2px; } .cut { position: absolute; right: 2px; top: 2px; color: #fff; font-weight: bold; }
  .goal { position: absolute; top: 0; bottom: 0; border-left: 2px dashed #202124; }
  </style><div id="chart"><h1>${esc(title)}</h1>
  <p>Each bar: measured / goal, the dashed line is the goal (green met, red missed, grey not measured).</p>
  <table><tr><td class="what"><b>target</b></td><td></td><td class="num"><b>measured</b></td><td class="num"><b>goal</b></td><td></td></tr>
  ${targets.map(row).join("\n")}</table></div>`;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1140, height: 400 } });
    await page.setContent(html);
    await page.locator("#chart").screenshot({ path });
  } finally {
    await browser.close();
  }
}
