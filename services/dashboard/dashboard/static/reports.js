// The reports view (#reports/IN-HP): a unit's field reports of a form for a day, from analytics
// through the dashboard's API: expected against submitted (late, accepted, rejected), each
// question's option counts and the summed numbers as bars, the days before as a small SVG chart,
// each unit one level down with its own seva sums, a mandal's silent booths, and the booth WhatsApp
// groups. Uses app.js's helpers (state, api, el, t, format, figure, share, unitName, unitHref).
//
// Refreshed by a light poll, not the live stream: analytics publishes no change stream of its
// report rollups (the stream carries coverage-updated only), reports come in over the day rather
// than in bursts a viewer must see within the second, and a poll that stops with the view or a
// hidden tab keeps analytics asked only for pages someone is looking at.
"use strict";

const REPORTS_REFRESH_MS = 10_000;
const TREND_DAYS = 14;
const CHOICES = new Set(["single_choice", "multiple_choice", "yes_no"]);

const reports = {
  forms: [], // the published forms the organiser may read (ids, kinds, titles, questions, labels)
  form: localStorage.getItem("report-form"), // the chosen form's id, kept across visits
  period: null, // the chosen period key; the latest with reports when not chosen
  trend: null, // /api/reports/{unit}/trend of the form
  report: null, // /api/reports/{unit} of the form and period
  poll: null,
};

function todayIST() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Kolkata" }).format(new Date());
}

function chosenForm() {
  return reports.forms.find((f) => f.form_id === reports.form) || reports.forms[0] || null;
}

// The forms, the form's trend at the unit, then its report for the chosen (or latest) period.
async function loadReports(unitId) {
  reports.forms = (await api("/api/reports/forms")).forms;
  const form = chosenForm();
  reports.trend = reports.report = null;
  if (!form || state.coverage.level === "booth") return;
  const query = `form_id=${encodeURIComponent(form.form_id)}`;
  const base = `/api/reports/${encodeURIComponent(unitId)}`;
  const trend = await api(`${base}/trend?${query}&days=${TREND_DAYS}`);
  const periods = trend.days.map((d) => d.period_key);
  const period = periods.includes(reports.period) ? reports.period : periods.at(-1) || todayIST();
  const report = await api(`${base}?${query}&period_key=${encodeURIComponent(period)}`);
  if (unitId !== state.unit || form.form_id !== chosenForm().form_id) return; // moved on meanwhile
  Object.assign(reports, { trend, report, period });
}

function refreshReports() {
  if (!state.unit || state.view !== "reports" || document.visibilityState !== "visible") return;
  load(state.unit).catch(() => null); // keeps what it showed if analytics is away a moment
}

// --- rendering ----------------------------------------------------------------------------

function renderReports() {
  clearInterval(reports.poll);
  reports.poll = setInterval(refreshReports, REPORTS_REFRESH_MS);
  renderChoice();
  const form = chosenForm();
  const hint = !form ? "no_forms" : state.coverage.level === "booth" ? "booth_report"
    : !reports.trend.days.length ? "no_reports" : null;
  $("report-hint").hidden = !hint;
  $("report-hint").textContent = hint ? t(hint) : "";
  const report = hint === "no_forms" || hint === "booth_report" ? null : reports.report;
  for (const id of ["report-summary", "report-answers-section", "report-trend-section", "report-units-section"]) {
    $(id).hidden = !report;
  }
  renderWhatsApp();
  if (!report) {
    $("silent-section").hidden = true;
    return;
  }
  renderReportSummary(form, report);
  renderAnswers(form, report);
  renderTrend(form, reports.trend);
  renderReportUnits(form, report);
  renderSilent(report);
}

function titleIn(title) {
  return title[state.lang] || title.en;
}

function renderChoice() {
  const form = chosenForm();
  $("report-form").replaceChildren(...reports.forms.map((f) => el("option",
    { value: f.form_id, selected: f === form, text: `${titleIn(f.title)} · ${t(`form_kind.${f.kind}`)}` })));
  const periods = reports.trend ? reports.trend.days.map((d) => d.period_key).reverse() : [];
  if (reports.period && !periods.includes(reports.period)) periods.unshift(reports.period);
  $("report-period").replaceChildren(...periods.map((p) => el("option",
    { value: p, selected: p === reports.period, text: periodName(p) })));
  $("report-choice").hidden = !reports.forms.length;
}

function periodName(key) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(key)) return key; // twice a week: 2024-W47-1
  const locale = state.lang === "hi" ? "hi-IN" : "en-IN";
  return new Date(`${key}T00:00:00`).toLocaleDateString(locale, { day: "numeric", month: "short", year: "numeric" });
}

// A question's or an option's id as words ("food_packets" → "food packets"), for a form published
// as form-published.v1 (ids only, no labels); yes and no are the page's own words.
function idWords(id) {
  const own = t(`answer.${id}`);
  return own === `answer.${id}` ? id.replaceAll("_", " ") : own;
}

// A question's label in the page's language (form-published.v2), else its id in words.
function questionName(form, id) {
  const question = form.questions.find((q) => q.question_id === id);
  return question && question.label ? titleIn(question.label) : idWords(id);
}

// An option's label in the page's language, else its id in words (yes/no, a v1 form, an option
// an older version had).
function optionName(question, id) {
  const option = (question.options || []).find((o) => o.option_id === id);
  return option && option.label ? titleIn(option.label) : idWords(id);
}

function renderReportSummary(form, report) {
  const box = $("report-summary");
  box.dataset.unit = report.unit_id;
  box.dataset.form = report.form_id;
  box.dataset.period = report.period_key;
  box.replaceChildren(
    el("div", { class: "name" }, el("strong", { text: unitName(state.coverage) }),
      el("small", { text: `${titleIn(form.title)} · ${periodName(report.period_key)}` })),
    figure("expected", "expected", report.expected),
    figure("submitted", "submitted", report.submitted, report.expected),
    figure("late", "late", report.late, report.submitted),
    figure("accepted", "accepted", report.accepted, report.submitted),
    figure("rejected", "rejected", report.rejected, report.submitted));
}

// One card per choice question (each option's count of the booths that answered), and one for
// the numbers summed.
function renderAnswers(form, report) {
  const cards = form.questions.filter((q) => CHOICES.has(q.type)).map((q) => {
    const counts = report.options[q.question_id] || {};
    const options = q.type === "yes_no" ? ["yes", "no"] : q.option_ids;
    const all = [...options, ...Object.keys(counts).filter((o) => !options.includes(o))];
    return el("div", { class: "unit", "data-question": q.question_id },
      el("div", { class: "name" }, el("strong", { text: questionName(form, q.question_id) })),
      ...all.map((o) => named(optionName(q, o), `${q.question_id}.${o}`, counts[o] || 0, report.submitted)));
  });
  const summed = [...new Set([...form.questions.filter((q) => q.type === "number").map((q) => q.question_id),
    ...Object.keys(report.sums)])];
  if (summed.length) {
    cards.push(el("div", { class: "unit", "data-question": "sums" },
      el("div", { class: "name" }, el("strong", { text: t("sums") })),
      ...summed.map((q) => named(questionName(form, q), `sum.${q}`, report.sums[q] || 0))));
  }
  $("report-answers-section").hidden = !cards.length;
  $("report-answers").replaceChildren(...cards);
}

// A figure whose label is the form's own text (or an id in words), not one of the page's labels.
function named(text, field, value, whole = null) {
  const box = figure("", field, value, whole);
  box.querySelector(".label").textContent = text;
  return box;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

// Expected (pale) and submitted (bold) per day as bars, the day's sums listed under the chart.
function renderTrend(form, trend) {
  const days = trend.days;
  const width = 320, height = 120, top = 8, bottom = 18;
  const most = Math.max(1, ...days.map((d) => d.expected), ...days.map((d) => d.submitted));
  const slot = width / Math.max(days.length, 1);
  const y = (n) => height - bottom - ((height - bottom - top) * n) / most;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "trend", role: "img",
    "aria-label": t("report_trend") });
  days.forEach((d, i) => {
    const x = i * slot + slot * 0.15, w = slot * 0.7;
    const title = svg("title");
    title.textContent =
      `${periodName(d.period_key)}: ${t("submitted")} ${format(d.submitted)} / ${t("expected")} ${format(d.expected)}`;
    chart.append(svg("g", { "data-period": d.period_key, "data-expected": d.expected, "data-submitted": d.submitted },
      title,
      svg("rect", { class: "expected", x, width: w, y: y(d.expected), height: y(0) - y(d.expected) }),
      svg("rect", { class: "submitted", x: x + w * 0.2, width: w * 0.6, y: y(d.submitted),
        height: y(0) - y(d.submitted) })));
  });
  for (const [i, anchor] of [[0, "start"], [days.length - 1, "end"]]) {
    if (!days.length || (i === days.length - 1 && i === 0 && anchor === "end")) continue;
    const label = svg("text", { x: anchor === "start" ? 0 : width, y: height - 4, "text-anchor": anchor });
    label.textContent = periodName(days[i].period_key);
    chart.append(label);
  }
  chart.append(svg("line", { x1: 0, x2: width, y1: y(0), y2: y(0), class: "axis" }));
  const legend = el("p", { class: "legend" },
    el("span", { class: "key expected", text: t("expected") }),
    el("span", { class: "key submitted", text: t("submitted") }));
  const sums = days.filter((d) => Object.keys(d.sums).length).reverse().map((d) =>
    el("li", { "data-period": d.period_key },
      el("strong", { text: periodName(d.period_key) }),
      ...Object.entries(d.sums).map(([q, n]) =>
        el("span", { "data-sum": q, "data-value": String(n), text: `${questionName(form, q)} ${format(n)}` }))));
  $("report-trend").replaceChildren(chart, legend, ...(sums.length ? [el("ul", { class: "sums" }, ...sums)] : []));
}

// Each unit one level down: its expected and submitted, late, and its own sums (seva per unit).
function renderReportUnits(form, report) {
  const summed = form.questions.filter((q) => q.type === "number").map((q) => q.question_id);
  $("report-units").replaceChildren(...report.units.map((row) => {
    const link = (state.names[row.unit_id] || {}).level !== "booth";
    const href = link ? unitHref(row.unit_id) : null;
    return el(link ? "a" : "div", { class: "unit", "data-report-unit": row.unit_id, href },
      el("div", { class: "name" }, el("strong", { text: unitName({ unit_id: row.unit_id }) })),
      figure("submitted", "submitted", row.submitted, row.expected),
      el("div", { class: "counts" },
        count("expected", row.expected), count("late", row.late),
        ...summed.map((q) => sumCount(form, q, (row.sums || {})[q] || 0))));
  }));
}

function sumCount(form, question, value) {
  return el("span", { class: "count", "data-field": `sum.${question}`, "data-value": String(value) },
    el("small", { text: questionName(form, question) }), el("b", { text: format(value) }));
}

function renderSilent(report) {
  const silent = report.silent_booths;
  $("silent-section").hidden = silent === null;
  if (silent === null) return;
  $("silent-count").textContent = t("silent_count", { n: silent.length, total: report.expected });
  $("silent").replaceChildren(...silent.map((id) => el("li", { "data-booth": id, text: id })));
}

// Booths with an active WhatsApp group and the members reached, from the coverage numbers.
function renderWhatsApp() {
  const whatsappCard = (unit, link) => {
    const w = unit.whatsapp;
    const href = link ? unitHref(unit.unit_id) : null;
    const card = el(link ? "a" : "div", { class: "unit", "data-whatsapp-unit": unit.unit_id, href },
      el("div", { class: "name" }, el("strong", { text: unitName(unit) })),
      figure("booths_with_group", "booths_with_group", w.booths_with_group, unit.booths_total),
      el("div", { class: "counts" }, count("members_reached", w.members_reached),
        count("broadcast_lists", w.broadcast_lists), count("broadcast_recipients", w.broadcast_recipients)));
    return card;
  };
  const coverage = state.coverage;
  $("whatsapp-section").hidden = !coverage.whatsapp;
  if (!coverage.whatsapp) return;
  $("whatsapp-summary").replaceChildren(...whatsappCard(coverage, false).childNodes);
  $("whatsapp-summary").dataset.whatsappUnit = coverage.unit_id;
  $("whatsapp-units").replaceChildren(...coverage.children.filter((c) => c.whatsapp)
    .map((c) => whatsappCard(c, c.level !== "booth")));
}

// --- choosing -----------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("report-choice").addEventListener("submit", (event) => event.preventDefault());
  $("report-form").addEventListener("change", (event) => {
    reports.form = event.target.value;
    reports.period = null;
    localStorage.setItem("report-form", reports.form);
    load(state.unit).catch(showError);
  });
  $("report-period").addEventListener("change", (event) => {
    reports.period = event.target.value;
    load(state.unit).catch(showError);
  });
  document.addEventListener("visibilitychange", refreshReports);
});
