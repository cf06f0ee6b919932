// The trace viewer's script: the page's only code, inlined by `TraceView.page` (its hash is the page's one
// allowed script). It reads the trace from the JSON block `#trace-data` and draws it. Everything from the
// trace reaches the page as text (`textContent`, `setAttribute`): never as markup.
// oxlint-disable unicorn/consistent-function-scoping -- one closure over the page's data, on purpose
// Only what is in view is drawn: the timeline's marks and arrows in its time window, the list's visible rows.
;(() => {
  "use strict"
  const NS = "http://www.w3.org/2000/svg"
  const raw = JSON.parse(document.getElementById("trace-data").textContent)
  const n = raw.n
  const S = raw.strings
  const strIndex = new Map(S.map((s, i) => [s, i]))

  // ---------------------------------------------------------------------------------------------------
  // decoding: the columns back into typed arrays
  // ---------------------------------------------------------------------------------------------------

  const ids = []
  {
    let prefix = ""
    for (const entry of raw.ids) {
      if (typeof entry === "number") ids.push(prefix + entry)
      else {
        ids.push(entry)
        const m = /^(.*\D)?(0|[1-9]\d{0,14})$/.exec(entry)
        prefix = m === null ? "" : (m[1] ?? "")
      }
    }
  }
  const unzig = (z) => (z % 2 === 0 ? z / 2 : -(z + 1) / 2)
  const seq = new Float64Array(n)
  const ts = new Float64Array(n)
  const kind = Int32Array.from(raw.kind)
  const actor = Int32Array.from(raw.actor)
  const peer = new Int32Array(n)
  const msg = new Int32Array(n)
  const cause = new Int32Array(n)
  const corr = new Int32Array(n)
  const dataIdx = new Int32Array(n).fill(-1)
  {
    let s = 0
    let t = 0
    let m = 0
    let c = 0
    for (let i = 0; i < n; i++) {
      s += raw.seq[i]
      seq[i] = s
      t += raw.ts[i]
      ts[i] = t
      peer[i] = raw.peer[i] - 1
      if (raw.msg[i] === 0) msg[i] = -1
      else msg[i] = m += unzig(raw.msg[i] - 1)
      if (raw.cause[i] === 0) cause[i] = -1
      else cause[i] = c += unzig(raw.cause[i] - 1)
      corr[i] = raw.corr[i] - 1
    }
    let at = 0
    raw.dataAt.forEach((d, k) => {
      at += d
      dataIdx[at] = k
    })
  }
  const end = n === 0 ? 0 : ts[n - 1]
  const K = (name) => strIndex.get(name) ?? -2
  const kinds = {
    send: K("send"),
    receive: K("receive"),
    deadLetter: K("dead-letter"),
    overflow: K("broker.overflow"),
    restart: K("nursery.restart"),
    escalate: K("nursery.escalate"),
    exit: K("exit"),
    exhausted: K("budget.exhausted"),
    expire: K("join.expire"),
    modelResponse: K("model.response"),
    poolTask: K("pool.task"),
    poolGate: K("pool.gate"),
    publish: K("broker.publish"),
    deliver: K("broker.deliver"),
    handoff: K("handoff")
  }
  const dataOf = (i) => (dataIdx[i] === -1 ? undefined : raw.data[dataIdx[i]])

  /** What a mark stands for: a failure, a restart, a dead letter, or an ordinary event. */
  const markOf = (i) => {
    const k = kind[i]
    if (k === kinds.deadLetter || k === kinds.overflow) return "dead-letter"
    if (k === kinds.restart || k === kinds.escalate) return "restart"
    if (k === kinds.exhausted || k === kinds.expire) return "failure"
    const d = dataOf(i)
    if (d === undefined) return ""
    if (k === kinds.exit && d.outcome === "failed") return "failure"
    if (k === kinds.modelResponse && d.error !== undefined) return "failure"
    if (k === kinds.poolTask && (d.phase === "failed" || d.phase === "conflicted")) return "failure"
    if (k === kinds.poolGate && d.passed === false) return "failure"
    return ""
  }
  const marks = []
  const counts = { "dead-letter": 0, restart: 0, failure: 0 }
  for (let i = 0; i < n; i++) {
    marks.push(markOf(i))
    if (marks[i] !== "") counts[marks[i]]++
  }

  // Lanes: one per agent; `laneOf` maps an actor's string to its lane.
  const lanes = raw.lanes
  const laneOf = new Int32Array(S.length).fill(-1)
  lanes.forEach((name, lane) => {
    laneOf[strIndex.get(name)] = lane
  })

  // Arrows and handoffs.
  const arrowCount = raw.arrows.length / 2
  const arrowFrom = new Int32Array(arrowCount)
  const arrowTo = new Int32Array(arrowCount)
  for (let a = 0; a < arrowCount; a++) {
    arrowFrom[a] = raw.arrows[2 * a]
    arrowTo[a] = raw.arrows[2 * a + 1]
  }
  const handoffTask = new Map()
  for (let h = 0; h < raw.handoffs.length; h += 2) handoffTask.set(raw.handoffs[h], S[raw.handoffs[h + 1]])

  // Messages: id -> its send, deliveries and cause, for the causal chains.
  const envelope = new Set([
    kinds.send,
    kinds.receive,
    kinds.deadLetter,
    kinds.publish,
    kinds.deliver,
    kinds.overflow
  ])
  const messages = new Map()
  for (let i = 0; i < n; i++) {
    if (msg[i] === -1 || !envelope.has(kind[i])) continue
    let m = messages.get(msg[i])
    if (m === undefined) messages.set(msg[i], (m = { first: i, send: -1, cause: -1, from: -1, to: -1 }))
    if (m.cause === -1) m.cause = cause[i]
    if (kind[i] === kinds.send || kind[i] === kinds.publish) {
      m.send = i
      m.from = actor[i]
      if (m.to === -1) m.to = peer[i]
    } else {
      if (m.from === -1) m.from = peer[i]
      if (m.to === -1 || kind[i] !== kinds.deadLetter) m.to = actor[i]
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // helpers
  // ---------------------------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id)
  const el = (tag, attrs, text) => {
    const node = document.createElement(tag)
    if (attrs) for (const key in attrs) node.setAttribute(key, attrs[key])
    if (text !== undefined) node.textContent = text
    return node
  }
  const svg = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag)
    if (attrs) for (const key in attrs) node.setAttribute(key, String(attrs[key]))
    if (text !== undefined) node.textContent = text
    return node
  }
  const offset = (ms) => {
    const sign = ms < 0 ? "-" : "+"
    const a = Math.abs(ms)
    if (a < 10_000) return `${sign}${Math.round(a * 10) / 10}ms`
    if (a < 120_000) return `${sign}${(a / 1000).toFixed(1)}s`
    const minutes = Math.floor(a / 60_000)
    return `${sign}${minutes}m${String(Math.floor((a % 60_000) / 1000)).padStart(2, "0")}s`
  }
  const number = (x) => (Number.isInteger(x) ? x.toLocaleString("en-US") : String(Math.round(x * 1e6) / 1e6))
  const lowerBound = (t) => {
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (ts[mid] < t) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  const eventObject = (i) => {
    const event = { seq: seq[i], ts: raw.t0 + ts[i], kind: S[kind[i]], actor: S[actor[i]] }
    if (peer[i] !== -1) event.peer = S[peer[i]]
    if (msg[i] !== -1) event.messageId = ids[msg[i]]
    if (cause[i] !== -1) event.causationId = ids[cause[i]]
    if (corr[i] !== -1) event.correlationId = S[corr[i]]
    if (raw.span !== undefined && raw.span[i] !== 0) event.spanId = S[raw.span[i] - 1]
    const d = dataOf(i)
    if (d !== undefined) event.data = d
    if (raw.file !== undefined) event.file = raw.files[raw.file[i]]
    return event
  }

  // ---------------------------------------------------------------------------------------------------
  // state: filters, the time window, the selected event
  // ---------------------------------------------------------------------------------------------------

  const state = { agent: -1, kind: -1, from: 0, to: Math.max(end, 1), selected: -1 }
  let visible = new Int32Array(0)
  const passes = (i) =>
    (state.agent === -1 || actor[i] === state.agent || peer[i] === state.agent) &&
    (state.kind === -1 || kind[i] === state.kind)
  const refilter = () => {
    const out = new Int32Array(n)
    let k = 0
    for (let i = 0; i < n; i++) if (passes(i)) out[k++] = i
    visible = out.subarray(0, k)
    // A narrower list starts at its top (the old offset may lie past its end).
    list.scrollTop = 0
  }

  // ---------------------------------------------------------------------------------------------------
  // header and filters
  // ---------------------------------------------------------------------------------------------------

  const header = () => {
    $("title").textContent = raw.title
    $("files").textContent = raw.files.join(", ")
    const stats = [
      ["events", n],
      ["agents", lanes.length],
      ["messages delivered", arrowCount],
      ["handoffs", raw.handoffs.length / 2],
      ["dead letters", counts["dead-letter"]],
      ["restarts", counts.restart],
      ["failures", counts.failure],
      ["tokens", raw.budget.totals.tokensIn + raw.budget.totals.tokensOut],
      ["calls", raw.budget.totals.calls],
      ["cost (USD)", raw.budget.totals.cost],
      ["duration", offset(end)]
    ]
    const list = $("stats")
    for (const [name, value] of stats) {
      const item = el("span", { class: "stat", "data-stat": name })
      item.append(el("b", {}, typeof value === "number" ? number(value) : value), ` ${name}`)
      list.append(item)
    }
    const agentSelect = $("f-agent")
    agentSelect.append(el("option", { value: "-1" }, "all agents"))
    for (const name of lanes) agentSelect.append(el("option", { value: String(strIndex.get(name)) }, name))
    const kindSelect = $("f-kind")
    kindSelect.append(el("option", { value: "-1" }, "all kinds"))
    const present = [...new Set(kind)].map((k) => S[k]).sort()
    for (const name of present) kindSelect.append(el("option", { value: String(strIndex.get(name)) }, name))
    agentSelect.addEventListener("change", () => {
      state.agent = Number(agentSelect.value)
      refilter()
      drawAll()
    })
    kindSelect.addEventListener("change", () => {
      state.kind = Number(kindSelect.value)
      refilter()
      drawAll()
    })
  }

  // ---------------------------------------------------------------------------------------------------
  // the timeline: a lane per agent, marks and arrows in the time window
  // ---------------------------------------------------------------------------------------------------

  const LANE = 26
  const TOP = 26
  const LEFT = 150
  const MAX_MARKS = 4000
  const MAX_ARROWS = 2500
  const timeline = $("timeline")
  const plot = svg("svg", { id: "tl", class: "plot" })
  timeline.append(plot)
  const width = () => Math.max(timeline.clientWidth, 400)
  const xOf = (t, w) => LEFT + ((t - state.from) / (state.to - state.from)) * (w - LEFT - 12)
  const yOf = (lane) => TOP + lane * LANE + LANE / 2

  const ticks = (from, to, count) => {
    const span = Math.max(to - from, 1e-6)
    const raw10 = Math.pow(10, Math.floor(Math.log10(span / count)))
    const step = [1, 2, 5, 10].map((m) => m * raw10).find((s) => span / s <= count) ?? raw10 * 10
    const out = []
    for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push(t)
    return { out, step }
  }
  // A tick's label as precise as the ticks are apart: +18.6s would name every tick of a zoomed-in window.
  const tickLabel = (t, step) => {
    if (step >= 1000 && t >= 10_000)
      return `+${(t / 1000).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1000))))}s`
    return `+${t.toFixed(Math.max(0, -Math.floor(Math.log10(step))))}ms`
  }

  const shown = (i) => laneOf[actor[i]] !== -1 && passes(i)
  const arrowKindShown = () =>
    state.kind === -1 ||
    [kinds.send, kinds.receive, kinds.publish, kinds.deliver, kinds.handoff].includes(state.kind)

  const drawTimeline = () => {
    const w = width()
    const h = TOP + lanes.length * LANE + 8
    plot.setAttribute("width", String(w))
    plot.setAttribute("height", String(h))
    plot.setAttribute("viewBox", `0 0 ${w} ${h}`)
    const parts = []
    // axis
    const axis = svg("g", { class: "axis" })
    const { out: marksAt, step } = ticks(state.from, state.to, Math.max(2, Math.floor((w - LEFT) / 110)))
    for (const t of marksAt) {
      const x = xOf(t, w)
      axis.append(svg("line", { x1: x, x2: x, y1: TOP - 6, y2: h, class: "tick" }))
      axis.append(svg("text", { x: x + 2, y: TOP - 10, class: "tick-label" }, tickLabel(t, step)))
    }
    parts.push(axis)
    // lanes
    const laneGroup = svg("g", { class: "lanes" })
    lanes.forEach((name, lane) => {
      const g = svg("g", { class: "lane", "data-agent": name })
      const y = yOf(lane)
      g.append(svg("line", { x1: LEFT, x2: w - 12, y1: y, y2: y, class: "lane-line" }))
      const label = svg("text", { x: 6, y: y + 4, class: "lane-label" }, name)
      g.append(label)
      laneGroup.append(g)
    })
    parts.push(laneGroup)
    // arrows in the window
    const arrowGroup = svg("g", { class: "arrows" })
    let arrowsInView = 0
    if (arrowKindShown()) {
      const list = []
      for (let a = 0; a < arrowCount; a++) {
        const s = arrowFrom[a]
        const r = arrowTo[a]
        if (Math.max(ts[s], ts[r]) < state.from || Math.min(ts[s], ts[r]) > state.to) continue
        const fromLane = laneOf[actor[s]]
        const toLane = laneOf[actor[r]]
        if (fromLane === -1 || toLane === -1) continue
        if (state.agent !== -1 && actor[s] !== state.agent && actor[r] !== state.agent) continue
        list.push(a)
      }
      arrowsInView = list.length
      if (list.length <= MAX_ARROWS) {
        for (const a of list) {
          const s = arrowFrom[a]
          const r = arrowTo[a]
          const task = handoffTask.get(a)
          const line = svg("line", {
            x1: xOf(ts[s], w),
            y1: yOf(laneOf[actor[s]]),
            x2: xOf(ts[r], w),
            y2: yOf(laneOf[actor[r]]),
            class: task === undefined ? "arrow" : "arrow handoff",
            "marker-end": task === undefined ? "url(#head)" : "url(#head-handoff)",
            "data-i": s,
            "data-message": ids[msg[s]],
            "data-from": S[actor[s]],
            "data-to": S[actor[r]]
          })
          if (task !== undefined) line.setAttribute("data-task", task)
          line.append(svg("title", {}, `${ids[msg[s]]}: ${S[actor[s]]} → ${S[actor[r]]}`))
          // A wide transparent twin on top takes the clicks a thin line would make hard to hit.
          const hit = svg("line", {
            x1: line.getAttribute("x1"),
            y1: line.getAttribute("y1"),
            x2: line.getAttribute("x2"),
            y2: line.getAttribute("y2"),
            class: "arrow-hit",
            "data-i": s
          })
          arrowGroup.append(line, hit)
        }
      }
    }
    parts.push(arrowGroup)
    // marks in the window: one per event, or per pixel column and lane when there are too many
    const markGroup = svg("g", { class: "marks" })
    const first = lowerBound(state.from)
    const last = lowerBound(state.to + 1e-9)
    let inView = 0
    for (let i = first; i < last; i++) if (shown(i)) inView++
    if (inView <= MAX_MARKS) {
      for (let i = first; i < last; i++) {
        if (!shown(i)) continue
        const special = marks[i]
        const x = xOf(ts[i], w)
        const y = yOf(laneOf[actor[i]])
        const attrs = {
          class: `mark${special === "" ? "" : ` ${special}`}`,
          "data-i": i,
          "data-kind": S[kind[i]]
        }
        const node =
          special === ""
            ? svg("circle", { ...attrs, cx: x, cy: y, r: 3.5 })
            : svg("rect", { ...attrs, x: x - 5, y: y - 5, width: 10, height: 10 })
        node.append(svg("title", {}, `#${seq[i]} ${S[kind[i]]} ${S[actor[i]]} ${offset(ts[i])}`))
        markGroup.append(node)
      }
    } else {
      const columns = new Map()
      for (let i = first; i < last; i++) {
        if (!shown(i)) continue
        const key = laneOf[actor[i]] * 100000 + Math.floor(xOf(ts[i], w) / 4)
        const c = columns.get(key)
        if (c === undefined) columns.set(key, { i, count: 1, special: marks[i] })
        else {
          c.count++
          if (marks[i] !== "") c.special = marks[i]
        }
      }
      for (const [key, c] of columns) {
        const lane = Math.floor(key / 100000)
        const x = (key % 100000) * 4
        const height = Math.min(LANE - 6, 3 + Math.log2(c.count) * 3)
        markGroup.append(
          svg("rect", {
            class: `density${c.special === "" ? "" : ` ${c.special}`}`,
            x,
            y: yOf(lane) - height / 2,
            width: 3,
            height,
            "data-i": c.i
          })
        )
      }
    }
    parts.push(markGroup)
    if (state.selected !== -1 && ts[state.selected] >= state.from && ts[state.selected] <= state.to) {
      const x = xOf(ts[state.selected], w)
      parts.push(svg("line", { x1: x, x2: x, y1: TOP - 4, y2: h, class: "cursor" }))
    }
    const defs = svg("defs")
    for (const [idName, cls] of [
      ["head", "head"],
      ["head-handoff", "head handoff"]
    ]) {
      const marker = svg("marker", {
        id: idName,
        viewBox: "0 0 10 10",
        refX: 9,
        refY: 5,
        markerWidth: 7,
        markerHeight: 7,
        orient: "auto-start-reverse"
      })
      marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: cls }))
      defs.append(marker)
    }
    plot.replaceChildren(defs, ...parts)
    $("tl-note").textContent =
      `${offset(state.from)} – ${offset(state.to)}: ${number(inView)} events` +
      (inView > MAX_MARKS ? " (drawn as density; zoom in for single events)" : "") +
      `, ${number(arrowsInView)} messages` +
      (arrowsInView > MAX_ARROWS ? " (zoom in to see their arrows)" : "")
  }

  let pending = false
  const redrawTimeline = () => {
    if (pending) return
    pending = true
    requestAnimationFrame(() => {
      pending = false
      drawTimeline()
    })
  }
  const zoom = (factor, at) => {
    const span = state.to - state.from
    const center = at ?? state.from + span / 2
    const next = Math.min(Math.max(span * factor, 0.01), Math.max(end, 1) * 1.05)
    const ratio = (center - state.from) / span
    state.from = center - ratio * next
    state.to = state.from + next
    redrawTimeline()
  }
  const timeAt = (clientX) => {
    const rect = plot.getBoundingClientRect()
    const w = width()
    return state.from + ((clientX - rect.left - LEFT) / (w - LEFT - 12)) * (state.to - state.from)
  }
  plot.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault()
      zoom(event.deltaY > 0 ? 1.25 : 0.8, timeAt(event.clientX))
    },
    { passive: false }
  )
  let drag = undefined
  plot.addEventListener("mousedown", (event) => {
    drag = { x: event.clientX, from: state.from, to: state.to, moved: false }
  })
  window.addEventListener("mousemove", (event) => {
    if (drag === undefined) return
    const dx = event.clientX - drag.x
    if (Math.abs(dx) > 3) drag.moved = true
    if (!drag.moved) return
    const dt = (dx / (width() - LEFT - 12)) * (drag.to - drag.from)
    state.from = drag.from - dt
    state.to = drag.to - dt
    redrawTimeline()
  })
  window.addEventListener("mouseup", () => {
    setTimeout(() => (drag = undefined), 0)
  })
  plot.addEventListener("click", (event) => {
    if (drag !== undefined && drag.moved) return
    const target = event.target.closest("[data-i]")
    if (target !== null) select(Number(target.getAttribute("data-i")), true)
  })
  $("zoom-in").addEventListener("click", () => zoom(0.5))
  $("zoom-out").addEventListener("click", () => zoom(2))
  $("zoom-fit").addEventListener("click", () => {
    state.from = 0
    state.to = Math.max(end, 1)
    redrawTimeline()
  })
  window.addEventListener("resize", () => {
    redrawTimeline()
    drawList()
  })

  // ---------------------------------------------------------------------------------------------------
  // the owners of each handed-off task, the budget curves, the pool
  // ---------------------------------------------------------------------------------------------------

  const MAX_ROWS = 300
  const band = (w) => (t) => LEFT + (t / Math.max(end, 1)) * (w - LEFT - 12)

  const drawOwners = () => {
    const section = $("owners")
    const body = $("owners-body")
    if (raw.tasks.length === 0) {
      section.hidden = true
      return
    }
    const w = Math.max(body.clientWidth, 400)
    const x = band(w)
    const tasks = raw.tasks.filter(
      (task) =>
        state.agent === -1 ||
        task.owners.some((v, k) => (k % 2 === 0 ? v === state.agent : actor[v] === state.agent))
    )
    const rows = tasks.slice(0, MAX_ROWS)
    const chart = svg("svg", { width: w, height: rows.length * LANE + 4, class: "plot" })
    rows.forEach((task, row) => {
      const g = svg("g", { class: "task", "data-task": task.id })
      const y = row * LANE + 2
      g.append(svg("text", { x: 6, y: y + 17, class: "lane-label" }, task.id))
      // A task with more owners than the width can show: those too brief to see are drawn as one grey run
      // (their handoffs are in the list). Otherwise every owner is drawn, however brief.
      const crowded = task.owners.length / 2 > (w - LEFT) / 8
      let dense = -1
      const flush = (upTo) => {
        if (dense === -1) return
        const x1 = x(ts[task.owners[dense + 1]])
        g.append(
          svg("rect", {
            x: x1,
            y: y + 3,
            width: Math.max(upTo - x1, 2),
            height: LANE - 6,
            class: "owner-dense"
          })
        )
        dense = -1
      }
      for (let k = 0; k < task.owners.length; k += 2) {
        const owner = S[task.owners[k]]
        const at = task.owners[k + 1]
        const until = k + 2 < task.owners.length ? ts[task.owners[k + 3]] : end
        const x1 = x(ts[at])
        if (crowded && x(until) - x1 < 4) {
          if (dense === -1) dense = k
          continue
        }
        flush(x1)
        const x2 = Math.max(x(until), x1 + 2)
        const segment = svg("g", { class: "owner", "data-owner": owner, "data-i": at })
        segment.append(
          svg("rect", {
            x: x1,
            y: y + 3,
            width: x2 - x1,
            height: LANE - 6,
            class: `owner-bar c${(k / 2) % 6}`
          })
        )
        segment.append(svg("text", { x: x1 + 3, y: y + 17, class: "owner-label" }, owner))
        segment.append(svg("title", {}, `${owner} from ${offset(ts[at])}`))
        g.append(segment)
      }
      flush(x(end))
      chart.append(g)
    })
    chart.addEventListener("click", (event) => {
      const target = event.target.closest("[data-i]")
      if (target !== null) select(Number(target.getAttribute("data-i")), true)
    })
    const note =
      tasks.length > MAX_ROWS ? el("p", { class: "note" }, `${tasks.length - MAX_ROWS} more tasks`) : ""
    body.replaceChildren(chart, note)
  }

  const drawBudget = () => {
    const section = $("budget")
    const body = $("budget-body")
    const points = raw.budget.points
    if (points.length === 0) {
      body.replaceChildren(
        el("p", { class: "note", id: "budget-none" }, "no budget was charged in this trace")
      )
      return
    }
    const metrics = [
      ["tokensIn", "tokens in", 1],
      ["tokensOut", "tokens out", 2],
      ["calls", "calls", 3],
      ["cost", "cost (USD)", 4]
    ]
    const W = 280
    const H = 120
    const charts = []
    for (const [name, label, column] of metrics) {
      const total = raw.budget.totals[name]
      const max = Math.max(total, 1e-12)
      const xs = (t) => 8 + (t / Math.max(end, 1)) * (W - 16)
      const ys = (v) => H - 22 - (v / max) * (H - 40)
      let path = `${xs(0)},${ys(0)}`
      let lastX = xs(0)
      let lastV = 0
      for (let p = 0; p < points.length; p += 5) {
        const x = xs(ts[points[p]])
        const v = points[p + column]
        path += ` ${x},${ys(lastV)} ${x},${ys(v)}`
        lastX = x
        lastV = v
      }
      const chart = svg("svg", { width: W, height: H, class: "curve-chart", "data-metric": name })
      chart.append(svg("text", { x: 8, y: 14, class: "chart-title" }, `${label}: ${number(lastV)}`))
      for (const e of raw.budget.exhausted) {
        const x = xs(ts[e])
        chart.append(svg("line", { x1: x, x2: x, y1: 18, y2: H - 20, class: "exhausted", "data-i": e }))
      }
      chart.append(svg("polyline", { points: path, class: "curve", "data-metric": name }))
      const dot = svg("circle", {
        cx: lastX,
        cy: ys(lastV),
        r: 3.5,
        class: "last",
        "data-metric": name,
        "data-value": lastV,
        "data-i": points[points.length - 5]
      })
      dot.append(svg("title", {}, `${label}: ${number(lastV)} at ${offset(ts[points[points.length - 5]])}`))
      chart.append(dot)
      chart.append(svg("text", { x: 8, y: H - 6, class: "tick-label" }, `+0 … ${offset(end)}`))
      charts.push(chart)
    }
    const budgets = el("p", { class: "note" }, `budgets: ${raw.budget.budgets.join(", ")}`)
    body.replaceChildren(...charts, budgets)
    section.hidden = false
  }

  const drawPool = () => {
    const section = $("pool")
    const body = $("pool-body")
    const pool = raw.pool
    if (pool === null || pool === undefined) {
      section.hidden = true
      return
    }
    section.hidden = false
    const w = Math.max(body.clientWidth, 400)
    const x = band(w)
    const rows = pool.rows
      .map((row, k) => ({ ...row, k }))
      .sort((a, b) => (a.worker ?? 1e9) - (b.worker ?? 1e9) || a.k - b.k)
      .slice(0, MAX_ROWS)
    const height = (rows.length + 1) * LANE + 8
    const chart = svg("svg", { width: w, height, class: "plot" })
    rows.forEach((row, r) => {
      const y = r * LANE + 2
      const g = svg("g", {
        class: "pool-task",
        "data-task": row.task,
        "data-attempt": row.attempt,
        "data-worker": row.worker === null ? "" : row.worker,
        "data-outcome": row.outcome
      })
      const who = row.worker === null ? "worker ?" : `worker ${row.worker}`
      g.append(svg("text", { x: 6, y: y + 17, class: "lane-label" }, `${who} · ${row.task}#${row.attempt}`))
      for (let b = 0; b < row.bars.length; b += 3) {
        const phase = row.bars[b]
        const x1 = x(ts[row.bars[b + 1]])
        const x2 = Math.max(x(ts[row.bars[b + 2]]), x1 + 2)
        const bar = svg("rect", {
          x: x1,
          y: y + 4,
          width: x2 - x1,
          height: LANE - 8,
          class: `phase p-${phase}`,
          "data-phase": phase,
          "data-task": row.task,
          "data-i": row.bars[b + 1]
        })
        bar.append(
          svg("title", {}, `${row.task} ${phase} ${offset(ts[row.bars[b + 2]] - ts[row.bars[b + 1]])}`)
        )
        g.append(bar)
      }
      g.append(
        svg(
          "text",
          { x: w - 12, y: y + 17, class: `outcome o-${row.outcome}`, "text-anchor": "end" },
          row.outcome
        )
      )
      chart.append(g)
    })
    const y = rows.length * LANE + 4
    const train = svg("g", { class: "train" })
    train.append(svg("text", { x: 6, y: y + 17, class: "lane-label" }, "merge train"))
    for (const batch of pool.batches) {
      const x1 = x(ts[batch.start])
      const x2 = Math.max(x(ts[batch.end]), x1 + 3)
      const g = svg("g", {
        class: `batch b-${batch.outcome}`,
        "data-batch": batch.batch,
        "data-tasks": batch.tasks.join(" "),
        "data-outcome": batch.outcome,
        "data-i": batch.start
      })
      g.append(svg("rect", { x: x1, y: y + 3, width: x2 - x1, height: LANE - 6 }))
      g.append(
        svg(
          "text",
          { x: x1 + 3, y: y + 17, class: "owner-label" },
          `#${batch.batch} ${batch.tasks.join(", ")}`
        )
      )
      train.append(g)
    }
    chart.append(train)
    chart.addEventListener("click", (event) => {
      const target = event.target.closest("[data-i]")
      if (target !== null) select(Number(target.getAttribute("data-i")), true)
    })
    const legend = el(
      "p",
      { class: "note" },
      "phases: agent, commit, gate, merge (waiting for and riding the train)"
    )
    body.replaceChildren(chart, legend)
  }

  // ---------------------------------------------------------------------------------------------------
  // the event list: only the rows in view are in the document
  // ---------------------------------------------------------------------------------------------------

  const ROW = 20
  const list = $("list")
  const spacer = $("spacer")
  const rowsBox = $("rows")
  const drawList = () => {
    spacer.style.height = `${visible.length * ROW}px`
    const top = list.scrollTop
    const firstRow = Math.max(0, Math.floor(top / ROW) - 5)
    const lastRow = Math.min(visible.length, Math.ceil((top + list.clientHeight) / ROW) + 5)
    rowsBox.style.transform = `translateY(${firstRow * ROW}px)`
    const out = []
    for (let r = firstRow; r < lastRow; r++) {
      const i = visible[r]
      const special = marks[i]
      const row = el("div", {
        class: `row${i === state.selected ? " selected" : ""}${special === "" ? "" : ` ${special}`}`,
        "data-i": String(i)
      })
      row.append(
        el("span", { class: "c-seq" }, String(seq[i])),
        el("span", { class: "c-ts" }, offset(ts[i])),
        el("span", { class: "c-kind" }, S[kind[i]]),
        el("span", { class: "c-actor" }, S[actor[i]]),
        el("span", { class: "c-peer" }, peer[i] === -1 ? "" : S[peer[i]]),
        el("span", { class: "c-msg" }, msg[i] === -1 ? "" : ids[msg[i]])
      )
      out.push(row)
    }
    rowsBox.replaceChildren(...out)
    $("list-note").textContent = `${number(visible.length)} of ${number(n)} events`
  }
  list.addEventListener("scroll", () => requestAnimationFrame(drawList))
  rowsBox.addEventListener("click", (event) => {
    const target = event.target.closest("[data-i]")
    if (target !== null) select(Number(target.getAttribute("data-i")), false)
  })

  // ---------------------------------------------------------------------------------------------------
  // the selected event: its payload as traced, and its causal chain back to the root
  // ---------------------------------------------------------------------------------------------------

  const chainOf = (i) => {
    let m = msg[i] !== -1 && envelope.has(kind[i]) ? msg[i] : cause[i]
    const chain = []
    const seen = new Set()
    while (m !== -1 && !seen.has(m)) {
      seen.add(m)
      const message = messages.get(m)
      chain.unshift({ id: m, message })
      m = message === undefined ? -1 : message.cause
    }
    return chain
  }

  const select = (i, scroll) => {
    state.selected = i
    $("payload").textContent = JSON.stringify(eventObject(i), null, 2)
    $("detail-title").textContent = `#${seq[i]} ${S[kind[i]]} · ${S[actor[i]]} · ${offset(ts[i])}`
    const chain = chainOf(i)
    const items = chain.map(({ id, message }, depth) => {
      const item = el("li", { class: "step", "data-message": ids[id] })
      if (message === undefined) {
        item.textContent = `${ids[id]} (not in the trace)`
        return item
      }
      const first = message.send !== -1 ? message.send : message.first
      item.setAttribute("data-i", String(first))
      const from = message.from === -1 ? "?" : S[message.from]
      const to = message.to === -1 ? "?" : S[message.to]
      const a = arrowOfSend.get(message.send)
      const how = a !== undefined && handoffTask.has(a) ? ` handoff ${handoffTask.get(a)}` : ""
      item.textContent = `${depth === 0 ? "root " : ""}${ids[id]}  ${from} → ${to}${how}  ${offset(ts[first])}`
      return item
    })
    $("chain").replaceChildren(...items)
    $("chain-none").hidden = items.length > 0
    if (scroll) {
      const r = visible.indexOf(i)
      if (r !== -1) list.scrollTop = Math.max(0, r * ROW - list.clientHeight / 2)
    }
    drawList()
    redrawTimeline()
  }
  const arrowOfSend = new Map()
  for (let a = 0; a < arrowCount; a++) if (!arrowOfSend.has(arrowFrom[a])) arrowOfSend.set(arrowFrom[a], a)
  $("chain").addEventListener("click", (event) => {
    const target = event.target.closest("[data-i]")
    if (target !== null) select(Number(target.getAttribute("data-i")), true)
  })

  // ---------------------------------------------------------------------------------------------------

  const drawAll = () => {
    drawTimeline()
    drawOwners()
    drawPool()
    drawList()
  }
  header()
  refilter()
  drawAll()
  drawBudget()
  document.documentElement.setAttribute("data-ready", "true")
  window.traceViewLoadMs = performance.now()
})()
