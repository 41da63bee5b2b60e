// Runs the built Vite example (vite-dist, served by sandboxd under /vite-example/) in
// Debian's Chromium: the page must show the sandbox's output.
import { chromium } from "playwright-core";

const url = `${process.env.SANDBOXD_URL}/vite-example/index.html`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--headless=new"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(url);
  const out = page.locator("#out");
  await out.filter({ hasText: "hello from a Vite page" }).waitFor({ timeout: 60_000 }).catch(() => {
    throw new Error(`the Vite page did not show the sandbox's output; errors: ${errors.join(" | ") || "none"}`);
  });
  console.log(`the built Vite page ran a sandbox: ${(await out.textContent()).trim()}`);
} finally {
  await browser.close();
}
