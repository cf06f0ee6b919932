import { chromium } from "playwright-core"
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium" })
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
page.on("console", (m) => console.log("console:", m.text()))
page.on("pageerror", (e) => console.log("pageerror:", e.message))
for (const f of ["chain", "fanout", "pool"]) {
  await page.goto(`file:///tmp/hk16/out/${f}.html`)
  await page.waitForSelector("html[data-ready=true]", { timeout: 5000 }).catch((e) => console.log("not ready", e.message))
  console.log(f, await page.evaluate(() => window.traceViewLoadMs))
  await page.screenshot({ path: `/tmp/hk16/out/${f}.png`, fullPage: true })
}
await browser.close()
