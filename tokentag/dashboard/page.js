// The dashboard's script: lays out the figures tokentag embedded in the page. It adds
// nothing up: every total shown is one `report --json` or `release --json` printed.
"use strict";
(function () {
  const figures = JSON.parse(document.getElementById("figures").textContent);
  const reports = figures.reports;
  const KINDS = ["observed", "inferred", "reconciled", "estimated"];
  // Okabe-Ito: told apart with every common kind of colour blindness.
  const EVIDENCE_COLORS = { observed: "#0072B2", inferred: "#E69F00",
                            reconciled: "#009E73", estimated: "#CC79A7" };
  const ACCENT = "#0072B2", MUTED = "#8c959f";
  const TIME_VIEWS = { day: "Day", week: "Week", month: "Month" };
  const BREAKDOWN_VIEWS = { model: "Model", branch: "Branch", session: "Session",
                            agent: "Agent", tag: "Release tag", task: "Task",
                            author: "Author", pr: "Pull request" };
  const charts = {};
  const hasCharts = typeof window.Chart === "function";

  // -- formatting (the page's figures as `tokentag report` prints them) --------------

  const integer = new Intl.NumberFormat("en-US");
  const dollars2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2,
    maximumFractionDigits: 2, roundingMode: "halfEven" });
  const dollars4 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 4,
    maximumFractionDigits: 4, roundingMode: "halfEven" });

  function tokens(n) { return integer.format(n); }

  // tokentag.core.money.usd: "$1,234.56" from a dollar up, "$0.0412" below, "unpriced"
  // when no price is known, "*" when only part could be priced.
  function usd(amount, partly) {
    if (amount === null || amount === undefined) return "unpriced";
    let text;
    if (amount === 0) text = "$0.00";
    else if (Math.abs(amount) >= 1) text = "$" + dollars2.format(amount);
    else if (Math.abs(amount) >= 0.0001) text = "$" + dollars4.format(amount);
    else text = amount > 0 ? "<$0.0001" : "-<$0.0001";
    return partly ? text + "*" : text;
  }

  function cost(row) { return usd(row.cost_usd, (row.unpriced_requests || 0) > 0); }

  function evidenceText(evidence) {
    const parts = KINDS.filter((k) => evidence[k]).map((k) => k + " " + tokens(evidence[k]));
    return parts.join(", ") || "none";
  }

  // Dates in the report's time zone (its --tz), as `tokentag report` shows them.
  const zoneName = (() => {
    try {
      new Intl.DateTimeFormat("en-CA", { timeZone: figures.zone.tz });
      return figures.zone.tz;
    } catch (error) { return "UTC"; }
  })();
  const dayFormat = new Intl.DateTimeFormat("en-CA", { timeZone: zoneName, year: "numeric",
    month: "2-digit", day: "2-digit" });
  const timeFormat = new Intl.DateTimeFormat("en-GB", { timeZone: zoneName, hour: "2-digit",
    minute: "2-digit", hourCycle: "h23" });

  function day(iso) { return iso ? dayFormat.format(new Date(iso)) : ""; }

  function moment(iso) { return iso ? day(iso) + " " + timeFormat.format(new Date(iso)) : ""; }

  function count(n, what) { return tokens(n) + " " + what + (n === 1 ? "" : "s"); }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  // -- tables with sort, filter and limit ----------------------------------------------

  const LIMITS = [10, 25, 100, 0];

  function missing(v) { return v === null || v === undefined; }

  // Values in order, missing ones (an unpriced cost) last either way.
  function compare(a, b, descending) {
    if (missing(a) || missing(b)) return missing(a) - missing(b);
    const order = typeof a === "number" && typeof b === "number" ? a - b
      : String(a).localeCompare(String(b));
    return descending ? -order : order;
  }

  // columns: [{id, label, num, cls, value(row), text(row), title(row)}]
  function table(spec) {
    const state = { sort: spec.sort, descending: spec.descending !== false,
                    filter: "", limit: spec.limit === undefined ? 25 : spec.limit };
    const heads = spec.columns.map((column) => {
      const button = el("button", { type: "button" }, column.label);
      const th = el("th", { scope: "col", class: column.num ? "num" : null }, button);
      button.addEventListener("click", () => {
        state.descending = state.sort === column.id ? !state.descending : !!column.num;
        state.sort = column.id;
        refresh();
      });
      return th;
    });
    const body = el("tbody");
    const foot = spec.total ? el("tfoot", {}, row(spec.total, "total")) : null;
    const tableNode = el("table", { "data-view": spec.view, id: "table-" + spec.view },
      el("caption", { class: "visually-hidden" }, spec.caption),
      el("thead", {}, el("tr", {}, ...heads)), body, foot);
    const shown = el("span", { class: "shown", "aria-live": "polite" });
    const filter = el("input", { type: "search", placeholder: "filter rows",
                                 "aria-label": "Filter " + spec.caption });
    filter.addEventListener("input", () => {
      state.filter = filter.value.toLowerCase();
      refresh();
    });
    const limit = el("select", { "aria-label": "Rows shown in " + spec.caption },
      ...LIMITS.map((n) => el("option", { value: n, selected: n === state.limit ? "" : null },
                               n ? "first " + n : "all")));
    limit.addEventListener("change", () => { state.limit = Number(limit.value); refresh(); });

    function row(item, key) {
      return el("tr", { "data-key": key },
        ...spec.columns.map((column) => el("td", {
          "data-col": column.id, class: [column.num ? "num" : "", column.cls || ""].join(" ").trim()
            || null, title: column.title ? column.title(item) : null }, column.text(item))));
    }

    function refresh() {
      const chosen = spec.columns.find((c) => c.id === state.sort);
      const matching = spec.rows.filter((item) => !state.filter || spec.columns.some(
        (c) => !c.num && c.text(item).toLowerCase().includes(state.filter)));
      const sorted = matching.slice().sort(
        (a, b) => compare(chosen.value(a), chosen.value(b), state.descending));
      const visible = state.limit ? sorted.slice(0, state.limit) : sorted;
      body.replaceChildren(...visible.map((item) => row(item, spec.key(item))));
      heads.forEach((th, i) => th.setAttribute("aria-sort", spec.columns[i].id !== state.sort
        ? "none" : state.descending ? "descending" : "ascending"));
      shown.textContent = "showing " + visible.length + " of " + spec.rows.length + " rows"
        + (state.filter ? " (" + matching.length + " match the filter)" : "");
    }

    refresh();
    return el("div", { class: "table-block" },
      el("div", { class: "table-tools" }, filter, limit, shown),
      el("div", { class: "scroll" }, tableNode));
  }

  // Columns shared by every table of totals.
  function figureColumns(split) {
    const number = (id, label, pick) => ({ id, label, num: true, value: pick,
                                           text: (r) => tokens(pick(r)) });
    const columns = [number("requests", "Requests", (r) => r.requests)];
    if (split) {
      columns.push(number("input", "Input", (r) => r.tokens.input),
                   number("output", "Output", (r) => r.tokens.output),
                   number("cache_creation", "Cache write", (r) => r.tokens.cache_creation),
                   number("cache_read", "Cache read", (r) => r.tokens.cache_read));
    }
    columns.push(number("tokens", "Tokens", (r) => r.tokens.total),
                 { id: "cost", label: "Cost", num: true, value: (r) => r.cost_usd, text: cost,
                   title: (r) => r.unpriced_requests ? r.unpriced_requests
                     + " requests of models without a known price are not in the cost" : null },
                 { id: "evidence", label: "Evidence (tokens)", cls: "evidence",
                   value: (r) => evidenceText(r.evidence), text: (r) => evidenceText(r.evidence) });
    return columns;
  }

  function reportTable(by, label, sort, descending) {
    const report = reports[by];
    return table({
      view: by, caption: label + " totals", key: (r) => r.key, rows: report.rows,
      total: Object.assign({ key: "All" }, report.totals), sort, descending,
      columns: [{ id: "key", label, cls: "whole", value: (r) => r.key, text: (r) => r.key },
                ...figureColumns(true)],
    });
  }

  // -- charts ----------------------------------------------------------------------------

  function metric() { return document.getElementById("metric").value; }

  function value(row) { return metric() === "cost" ? row.cost_usd : row.tokens.total; }

  function valueText(row) {
    return metric() === "cost" ? cost(row) : tokens(row.tokens.total) + " tokens";
  }

  function axisText(number) { return metric() === "cost" ? usd(number) : tokens(number); }

  function describe(canvas, title, labels, texts) {
    const listed = labels.slice(0, 8).map((label, i) => label + " " + texts[i]).join("; ");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", title + ": " + (listed || "no data")
      + (labels.length > 8 ? "; and " + (labels.length - 8) + " more" : "")
      + ". The table below lists every figure.");
  }

  function plot(id, title, config, labels, texts) {
    const canvas = document.getElementById(id);
    describe(canvas, title, labels, texts);
    if (!hasCharts) return;
    if (charts[id]) charts[id].destroy();
    charts[id] = new window.Chart(canvas, config);
  }

  function barConfig(labels, datasets, horizontal, tooltip) {
    const valueAxis = { beginAtZero: true, stacked: datasets.length > 1,
                        ticks: { callback: (v) => axisText(v) } };
    const labelAxis = { stacked: datasets.length > 1, ticks: { autoSkip: true, callback(v) {
      const text = this.getLabelForValue(v);
      return typeof text === "string" && text.length > 28 ? text.slice(0, 27) + "…" : text;
    } } };
    datasets.forEach((d) => { d.maxBarThickness = 56; });
    return {
      type: "bar",
      data: { labels, datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
        plugins: { legend: { display: datasets.length > 1 },
                   tooltip: { callbacks: { label: tooltip } } },
      },
    };
  }

  function releaseRows() {
    const rows = figures.releases.releases.slice();
    if (figures.releases.unreleased) rows.push(figures.releases.unreleased);
    return rows;
  }

  function releaseLabel(release) {
    return release.tagged ? release.tag : "HEAD (unreleased)";
  }

  function releaseDate(release) {
    return release.tagged ? day(figures.tag_dates[release.tag]) : "";
  }

  // Releases in tag order, each labelled with its date: cost per release over time.
  function drawReleases() {
    const rows = releaseRows();
    const labels = rows.map(releaseLabel);
    const config = barConfig(rows.map((r) => [releaseLabel(r), releaseDate(r)]),
      [{ label: metric(), data: rows.map(value),
         backgroundColor: rows.map((r) => r.tagged ? ACCENT : MUTED) }], false,
      (item) => valueText(rows[item.dataIndex]));
    plot("chart-releases", (metric() === "cost" ? "Cost" : "Tokens") + " per release", config,
      labels, rows.map(valueText));
  }

  // Periods oldest first; tokens stacked by evidence kind (each row's own split).
  function drawTime(by) {
    const rows = reports[by].rows.slice().sort((a, b) => compare(a.key, b.key, false));
    const labels = rows.map((r) => r.key);
    const datasets = metric() === "cost"
      ? [{ label: "cost", data: rows.map(value), backgroundColor: ACCENT }]
      : KINDS.map((kind) => ({ label: kind, data: rows.map((r) => r.evidence[kind]),
                               backgroundColor: EVIDENCE_COLORS[kind] }));
    plot("chart-time", (metric() === "cost" ? "Cost" : "Tokens") + " per " + by,
      barConfig(labels, datasets, false, (item) => metric() === "cost"
        ? valueText(rows[item.dataIndex])
        : item.dataset.label + " " + tokens(item.raw)), labels, rows.map(valueText));
  }

  const TOP = 15;

  function drawBreakdown(by) {
    const rows = reports[by].rows.slice().sort((a, b) => compare(value(a), value(b), true))
      .slice(0, TOP);
    const labels = rows.map((r) => r.key);
    plot("chart-breakdown", (metric() === "cost" ? "Cost" : "Tokens") + " by "
      + BREAKDOWN_VIEWS[by].toLowerCase() + (reports[by].rows.length > TOP
        ? ", the largest " + TOP + " of " + reports[by].rows.length : ""),
      barConfig(labels, [{ label: metric(), data: rows.map(value), backgroundColor: ACCENT }],
        true, (item) => valueText(rows[item.dataIndex])), labels, rows.map(valueText));
  }

  function drawEvidence() {
    const evidence = reports.commit.totals.evidence;
    const labels = KINDS.slice();
    plot("chart-evidence", "Tokens by evidence kind", {
      type: "doughnut",
      data: { labels, datasets: [{ data: KINDS.map((k) => evidence[k]),
                                   backgroundColor: KINDS.map((k) => EVIDENCE_COLORS[k]) }] },
      options: { plugins: { legend: { position: "bottom" }, tooltip: { callbacks: {
        label: (item) => item.label + " " + tokens(item.raw) + " tokens" } } } },
    }, labels, KINDS.map((k) => tokens(evidence[k]) + " tokens"));
  }

  // -- sections ------------------------------------------------------------------------

  function releasesTable() {
    const rows = releaseRows();
    const order = new Map(rows.map((r, i) => [r, i]));
    return table({
      view: "releases", caption: "Releases", key: releaseLabel, rows, sort: "tag",
      descending: false, limit: 0,
      columns: [
        { id: "tag", label: "Release", value: (r) => order.get(r), text: releaseLabel },
        { id: "date", label: "Date", cls: "whole", value: (r) => releaseDate(r) || null,
          text: releaseDate },
        { id: "previous", label: "Since", value: (r) => r.previous_tag,
          text: (r) => r.previous_tag || "(first commit)" },
        { id: "commits", label: "Commits", num: true, value: (r) => r.commits,
          text: (r) => tokens(r.commits) },
        { id: "from_notes", label: "From notes", num: true, value: (r) => r.commits_from_notes,
          text: (r) => tokens(r.commits_from_notes),
          title: () => "commits known from git notes only (a teammate's)" },
        ...figureColumns(false),
      ],
    });
  }

  const TIMELESS = ["(pending)", "(no commit)", "(untagged)"];

  // `report --by commit`: the ledger's commits, and those only git notes know (a
  // teammate's; every one in a clone without the ledger).
  function commitRows() {
    return reports.commit.rows.filter((r) => !TIMELESS.includes(r.key));
  }

  function commitsTable() {
    const subject = (r) => r.subject === null ? "(not in this repository)" : r.subject;
    return table({
      view: "commits", caption: "Commits", key: (r) => r.key, rows: commitRows(), sort: "cost",
      columns: [
        { id: "commit", label: "Commit", cls: "sha", value: (r) => r.key,
          text: (r) => r.key.slice(0, 10), title: (r) => r.key },
        { id: "subject", label: "Subject", cls: "subject", value: subject, text: subject },
        { id: "author", label: "Author", cls: "whole", value: (r) => r.author || "",
          text: (r) => r.author || "" },
        { id: "date", label: "Committed", cls: "whole", value: (r) => r.date,
          text: (r) => moment(r.date) },
        { id: "source", label: "From", value: (r) => r.source, text: (r) => r.source },
        ...figureColumns(false),
      ],
    });
  }

  // A row of toggle buttons that shows one of `views` at a time.
  function switcher(name, views, show) {
    const group = document.querySelector('[data-switch="' + name + '"]');
    const buttons = Object.entries(views).map(([by, label]) => {
      const button = el("button", { type: "button", "aria-pressed": "false",
                                    "data-view": by }, label);
      button.addEventListener("click", () => choose(by));
      return button;
    });
    function choose(by) {
      buttons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === by)));
      show(by);
    }
    group.replaceChildren(...buttons);
    return choose;
  }

  // Every view's table is in the page from the start; the switch shows one.
  function switchedTables(slot, views, sort, descending) {
    const blocks = {};
    for (const [by, label] of Object.entries(views)) {
      blocks[by] = reportTable(by, label, sort, descending);
      blocks[by].hidden = true;
      slot.append(blocks[by]);
    }
    return (by) => {
      for (const [name, block] of Object.entries(blocks)) block.hidden = name !== by;
    };
  }

  function summary() {
    const totals = reports.commit.totals;
    const pending = reports.commit.rows.find((r) => r.key === "(pending)");
    const cards = [
      ["Cost", cost(totals)],
      ["Tokens", tokens(totals.tokens.total)],
      ["Requests", tokens(totals.requests)],
      ["Commits with usage", tokens(commitRows().length)],
      ["Releases", tokens(figures.releases.releases.length)],
      ["Pending tokens", tokens(pending ? pending.tokens.total : 0)],
    ];
    document.getElementById("summary").replaceChildren(...cards.map(([label, text]) =>
      el("div", { "data-card": label }, el("dt", {}, label), el("dd", {}, text))));
    const notes = [];
    if (totals.unpriced_requests) {
      notes.push("* The cost leaves out " + count(totals.unpriced_requests, "request")
        + " of models without a known price (" + totals.unpriced_models.join(", ")
        + "): tokentag never counts them as $0.");
    }
    if (!figures.status.requests && commitRows().length) {
      notes.push("This clone has no ledger: its commits, tags and releases come from the git "
        + "notes; the views by time, model, branch, session and work item need the ledger.");
    }
    const note = document.getElementById("summary-note");
    note.hidden = !notes.length;
    note.textContent = notes.join(" ");
  }

  function facts() {
    const q = figures.status;
    const totals = reports.commit.totals;
    const spent = (name) => count(q.spent[name].requests, "request") + ", "
      + count(q.spent[name].tokens.total, "token") + ", " + cost(q.spent[name]);
    const pending = reports.commit.rows.find((r) => r.key === "(pending)");
    const unattached = reports.commit.rows.find((r) => r.key === "(no commit)");
    const items = [
      ["today", "Spent today", spent("today")],
      ["this_week", "Spent this week", spent("this_week")],
      ["this_branch", "On this branch (" + (q.branch || "detached HEAD") + ")",
       spent("this_branch")],
      ["pending", "Pending (no commit yet)", pending
        ? count(pending.requests, "request") + ", " + count(pending.tokens.total, "token") + ", "
          + cost(pending) : "none"],
      ["no_commit", "Estimates for a task, no commit", unattached
        ? count(unattached.requests, "request") + ", " + count(unattached.tokens.total, "token")
          + ", " + cost(unattached) : "none"],
      ["unpriced", "Requests without a known price", totals.unpriced_requests
        ? tokens(totals.unpriced_requests) + " (" + totals.unpriced_models.join(", ") + ")"
        : "none"],
      ["corrections", "Corrections folded in", tokens(q.corrections)],
      ["superseded", "Superseded records", tokens(q.superseded_records)],
      ["invalid_lines", "Unreadable ledger lines skipped", tokens(q.invalid_lines),
       q.invalid_lines],
      ["failures", "Logged failures", tokens(q.logged_failures), q.logged_failures],
      ["last_failure", "Last failure", q.last_failure || "none", q.last_failure],
      ["sessions", "Sessions", tokens(q.sessions)],
      ["last_capture", "Last capture", moment(q.last_capture) || "never"],
      ["last_import", "Last import", moment(q.last_import) || "never"],
    ];
    document.getElementById("facts").replaceChildren(...items.flatMap(([id, label, text, bad]) => [
      el("dt", {}, label), el("dd", { "data-fact": id, class: bad ? "problem" : null }, text)]));
  }

  function evidenceTable() {
    const totals = reports.commit.totals;
    const rows = KINDS.map((kind) => ({ kind, tokens: totals.evidence[kind] }));
    const share = (r) => totals.tokens.total ? r.tokens / totals.tokens.total : 0;
    return table({
      view: "evidence", caption: "Evidence", key: (r) => r.kind, rows, sort: "tokens", limit: 0,
      columns: [
        { id: "kind", label: "Evidence", value: (r) => r.kind, text: (r) => r.kind },
        { id: "tokens", label: "Tokens", num: true, value: (r) => r.tokens,
          text: (r) => tokens(r.tokens) },
        { id: "share", label: "Share", num: true, value: share,
          text: (r) => (100 * share(r)).toFixed(1) + "%" },
      ],
    });
  }

  function header() {
    document.getElementById("repository").textContent = figures.repository;
    document.getElementById("generated").textContent = "Generated " + moment(figures.generated_at)
      + " · times in " + figures.zone.tz + " (" + figures.zone.offset + ")"
      + (figures.live_version ? " · live: reloads when the ledger changes" : "");
    const library = figures.chart_library;
    document.getElementById("footer").textContent = "Made by tokentag from this repository's "
      + "ledger and git notes. The same figures: tokentag report --json, tokentag release "
      + "--all --json, tokentag status --json."
      + (library ? " Charts drawn with " + library + " (MIT license), inlined in this page." : "");
    if (!hasCharts) {
      const note = document.getElementById("chart-note");
      note.hidden = false;
      note.textContent = "This build of tokentag has no chart library: the tables have every "
        + "figure.";
      document.querySelectorAll(".chart").forEach((c) => { c.hidden = true; });
    }
  }

  function watch() {
    if (!figures.live_version) return;
    setInterval(async () => {
      try {
        const answer = await fetch("version", { cache: "no-store" });
        if (answer.ok && (await answer.text()) !== figures.live_version) location.reload();
      } catch (error) { /* the server stopped: keep showing what we have */ }
    }, 3000);
  }

  function main() {
    if (hasCharts) {
      const style = getComputedStyle(document.documentElement);
      // No animation: the figures are there at once, and for reduced-motion users too.
      Object.assign(window.Chart.defaults, { animation: false, responsive: true,
        maintainAspectRatio: false, color: style.getPropertyValue("--muted").trim(),
        borderColor: style.getPropertyValue("--line").trim() });
      window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    }
    header();
    summary();
    document.getElementById("slot-releases").append(releasesTable());
    document.getElementById("slot-commits").append(commitsTable());
    const showTime = switchedTables(document.getElementById("slot-time"), TIME_VIEWS, "key", true);
    const showBreakdown = switchedTables(document.getElementById("slot-breakdown"),
                                         BREAKDOWN_VIEWS, "cost", true);
    let time = "day", breakdown = "model";
    const chooseTime = switcher("time", TIME_VIEWS,
      (by) => { time = by; showTime(by); drawTime(by); });
    const chooseBreakdown = switcher("breakdown", BREAKDOWN_VIEWS,
      (by) => { breakdown = by; showBreakdown(by); drawBreakdown(by); });
    facts();
    document.getElementById("slot-evidence").append(evidenceTable());
    drawReleases();
    chooseTime(time);
    chooseBreakdown(breakdown);
    drawEvidence();
    document.getElementById("metric").addEventListener("change", () => {
      drawReleases(); drawTime(time); drawBreakdown(breakdown);
    });
    watch();
    document.body.dataset.charts = String(Object.keys(charts).length);
    document.body.dataset.renderMs = String(Math.round(performance.now()));
    document.body.dataset.ready = "true";
  }

  main();
})();
