// The HQ dashboard page: coverage of a unit and its children, drill-down by URL hash (#IN-HP),
// its meetings and a chosen meeting's reach per child unit, live changes over server-sent events,
// English and Hindi; its field reports in a view of their own (reports.js, #reports/IN-HP).
// No framework, no build step.
"use strict";

const MAX_BOOTHS_LISTED = 5000; // analytics lists missing booths for units of at most this many
const REFRESH_AFTER_LIVE_MS = 5000; // deadlines and the missing list follow a burst of changes

const state = {
  lang: localStorage.getItem("lang") === "hi" ? "hi" : "en",
  home: null, // the signed-in organiser's unit
  view: "coverage", // or "reports": what the URL hash asks for (#IN-HP, #reports/IN-HP)
  unit: null, // the unit shown
  coverage: null, // its /api/coverage answer
  directives: [],
  missing: null,
  meetings: [], // the unit's recent meetings
  meeting: null, // the meeting chosen to see its reach, kept while moving between units
  reach: null, // its reach under the unit shown, refreshed by the live stream while it runs
  names: {}, // unit id -> {name, name_hi}, as units are seen
  stream: null,
  refresh: null,
};

const $ = (id) => document.getElementById(id);

function t(key, vars = {}) {
  let text = key.split(".").reduce((o, k) => (o ? o[k] : undefined), LABELS[state.lang]);
  if (text === undefined) text = key;
  return String(text).replace(/\{(\w+)\}/g, (_, v) => format(vars[v]));
}

function format(value) {
  return typeof value === "number" ? new Intl.NumberFormat(state.lang === "hi" ? "hi-IN" : "en-IN").format(value) : String(value);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function within(unitId, ancestorId) {
  return unitId === ancestorId || unitId.startsWith(ancestorId + "-");
}

// --- talking to the dashboard's API ---------------------------------------------------------

class SignedOut extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) throw new SignedOut();
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || body.title || response.statusText);
  return body;
}

// --- signing in and out -------------------------------------------------------------------

async function start() {
  try {
    const session = await api("/api/session");
    state.home = session.unit;
    $("sign-in").hidden = true;
    $("dashboard").hidden = false;
    $("sign-out").hidden = false;
    show(...route());
  } catch (error) {
    if (error instanceof SignedOut) showSignIn();
    else showError(error);
  }
}

function showSignIn(message = "") {
  closeStream();
  state.home = state.unit = null;
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
}

async function signIn(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  try {
    await api("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    $("token").value = "";
    $("sign-in-error").textContent = "";
    start();
  } catch (error) {
    $("sign-in-error").textContent = error instanceof SignedOut ? t("signed_out") : error.message;
  }
}

async function signOut() {
  await api("/api/session", { method: "DELETE" }).catch(() => null);
  history.replaceState(null, "", location.pathname);
  showSignIn();
}

// --- one unit's page ----------------------------------------------------------------------

const REPORTS_HASH = "reports/";

// The view and unit the URL hash names: #IN-HP is coverage, #reports/IN-HP the unit's reports.
function route() {
  const hash = decodeURIComponent(location.hash.slice(1));
  const reports = hash.startsWith(REPORTS_HASH);
  return [(reports ? hash.slice(REPORTS_HASH.length) : hash) || state.home, reports ? "reports" : "coverage"];
}

function unitHref(unitId, view = state.view) {
  return `#${view === "reports" ? REPORTS_HASH : ""}${unitId}`;
}

async function show(unitId, view = state.view) {
  if (!state.home) return;
  if (!within(unitId, state.home)) unitId = state.home; // an organiser sees their own subtree only
  const changed = unitId !== state.unit;
  state.unit = unitId;
  state.view = view;
  if (changed) openStream(unitId);
  try {
    await load(unitId);
  } catch (error) {
    if (error instanceof SignedOut) showSignIn(t("signed_out"));
    else showError(error);
  }
}

async function load(unitId) {
  const coverage = await api(`/api/coverage/${encodeURIComponent(unitId)}`);
  if (unitId !== state.unit) return; // the user moved on meanwhile
  state.coverage = coverage;
  for (const unit of [coverage, ...coverage.children]) state.names[unit.unit_id] = unit;
  if (state.view === "reports") {
    await loadReports(unitId); // reports.js
    if (unitId !== state.unit || state.view !== "reports") return;
    $("error").textContent = "";
    render();
    return;
  }
  const listMissing = coverage.level !== "booth" && coverage.booths_total <= MAX_BOOTHS_LISTED;
  const [directives, missing, meetings, reach] = await Promise.all([
    api(`/api/coverage/${encodeURIComponent(unitId)}/directives?limit=10`).catch(() => ({ directives: [] })),
    listMissing ? api(`/api/coverage/${encodeURIComponent(unitId)}/booths-without-president`).catch(() => null) : null,
    api(`/api/coverage/${encodeURIComponent(unitId)}/meetings?limit=10`).catch(() => ({ meetings: [] })),
    state.meeting ? reachOf(state.meeting, unitId) : null,
  ]);
  if (unitId !== state.unit) return;
  state.directives = directives.directives;
  state.missing = missing;
  state.meetings = meetings.meetings;
  state.reach = reach;
  $("error").textContent = "";
  render();
}

function reachOf(meetingId, unitId) {
  const query = `unit=${encodeURIComponent(unitId)}`;
  return api(`/api/meetings/${encodeURIComponent(meetingId)}/reach?${query}`).catch(() => null);
}

async function chooseMeeting(meetingId) {
  state.meeting = meetingId;
  const reach = await reachOf(meetingId, state.unit);
  if (meetingId !== state.meeting) return;
  state.reach = reach;
  openStream(state.unit); // now also watching the meeting's reach while it runs
  render();
}

function showError(error) {
  $("error").textContent = t("error", { detail: error.message });
}

// --- rendering ----------------------------------------------------------------------------

function render() {
  document.documentElement.lang = state.lang;
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-label]")) node.textContent = t(node.dataset.label);
  $("language").textContent = t("switch_to");
  $("language").lang = state.lang === "hi" ? "en" : "hi";
  renderLive();
  if (!state.coverage) return;
  const coverage = state.coverage;
  renderTrail(coverage.unit_id);
  renderViews();
  if (state.view === "reports") {
    renderReports(); // reports.js
    return;
  }
  $("summary").replaceChildren(...unitCard(coverage, false).childNodes);
  $("summary").dataset.unit = coverage.unit_id;
  $("children").replaceChildren(...coverage.children.map((child) => unitCard(child, child.level !== "booth")));
  renderMissing();
  renderMeetings();
  renderReach();
  renderDirectives();
}

function unitName(unit) {
  const names = state.names[unit.unit_id] || unit;
  return (state.lang === "hi" ? names.name_hi : names.name) || unit.unit_id;
}

function renderTrail(unitId) {
  const parts = unitId.split("-");
  const trail = [];
  for (let i = 1; i <= parts.length; i++) {
    const id = parts.slice(0, i).join("-");
    if (!within(id, state.home)) continue;
    const name = state.names[id] ? unitName({ unit_id: id }) : id;
    const here = id === unitId;
    trail.push(here ? el("span", { text: name, "aria-current": "page" }) : el("a", { href: unitHref(id), text: name }));
  }
  $("trail").replaceChildren(...trail.flatMap((node, i) => (i ? [el("span", { class: "sep", text: "›" }), node] : [node])));
}

// The two views of the unit shown, as tabs; the other view's sections hidden.
function renderViews() {
  for (const view of ["coverage", "reports"]) {
    const tab = $(`to-${view}`);
    tab.href = unitHref(state.unit, view);
    if (view === state.view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
    $(`${view}-view`).hidden = view !== state.view;
  }
}

function unitCard(unit, link) {
  const card = el(link ? "a" : "div", { class: "unit", "data-unit": unit.unit_id, href: link ? `#${unit.unit_id}` : null });
  card.append(
    el("div", { class: "name" }, el("strong", { text: unitName(unit) }), el("small", { text: t(`level.${unit.level}`) })),
    metric(unit, "booths_total", "booths_total", false),
    metric(unit, "booths_with_verified_president", "president", true),
    metric(unit, "booths_complete", "complete", true),
  );
  if (unit.deadline) card.append(deadline(unit.deadline));
  if (unit.meetings && unit !== state.coverage) {
    card.append(figure("meetings_held", "meetings_held", unit.meetings.held),
      figure("workers_reached", "workers_reached", unit.meetings.workers_reached));
  }
  return card;
}

function metric(unit, field, label, withBar) {
  return figure(label, field, unit[field], withBar ? unit.booths_total : null);
}

// One labelled number; with a whole, its share and a bar too.
function figure(label, field, value, whole = null) {
  const box = el("div", { class: "metric", "data-metric": field },
    el("span", { class: "label", text: t(label) }),
    el("span", { class: "value", "data-field": field, "data-value": String(value), text: format(value) }));
  if (whole !== null && whole !== undefined) {
    box.append(
      el("span", { class: "share", "data-share": field, text: share(value, whole) }),
      el("progress", { "data-bar": field, max: String(Math.max(whole, 1)), value: String(value) }));
  }
  return box;
}

function share(part, whole) {
  return whole ? `${format(Math.round((1000 * part) / whole) / 10)}%` : "–";
}

function deadline(d) {
  const date = (iso) => new Date(iso).toLocaleDateString(state.lang === "hi" ? "hi-IN" : "en-IN", { day: "numeric", month: "short", year: "numeric" });
  const verdict = d.met ? t("met") : d.on_track ? t("on_track") : t("behind");
  const projection = d.projected_completion ? `${t("projected")} ${date(d.projected_completion)}` : t("no_projection");
  return el("div", { class: "deadline", "data-field": "deadline", "data-on-track": String(!!(d.met || d.on_track)) },
    el("span", { class: "label", text: t("deadline") }),
    el("span", { text: `${date(d.target_date)} · ${projection} · ${verdict}` }));
}

function renderMissing() {
  const missing = state.missing;
  $("missing-section").hidden = !missing;
  if (!missing) return;
  $("missing-count").textContent = t("missing_count", { n: missing.count, total: missing.booths_total });
  const items = missing.booths.map((id) => el("li", { "data-booth": id, text: id }));
  if (missing.count > missing.booths.length) items.push(el("li", { class: "more", text: t("missing_more", { n: missing.count - missing.booths.length }) }));
  $("missing").replaceChildren(...items);
}

// --- meetings ------------------------------------------------------------------------------

const REACH_COUNTS = ["invited", "answered", "joined", "confirmed"];

function minutes(seconds) {
  return Math.round(seconds / 60);
}

function when(iso) {
  const locale = state.lang === "hi" ? "hi-IN" : "en-IN";
  return new Date(iso).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}

function word(group, value) {
  const text = t(`${group}.${value}`);
  return text === `${group}.${value}` ? value : text;
}

// A meeting whose meeting-scheduled analytics has not seen yet has no title or start: its kind.
function titleOf(meeting) {
  return (meeting.title && (meeting.title[state.lang] || meeting.title.en)) || word("kind", meeting.kind);
}

// The unit's meetings against its target, with the deadline projection, and the workers reached.
function renderMeetingsSummary() {
  const m = state.coverage.meetings;
  $("meetings-summary").hidden = !m;
  if (!m) return;
  $("meetings-summary").dataset.unit = state.coverage.unit_id;
  $("meetings-summary").replaceChildren(
    el("div", { class: "name" },
      el("strong", { text: unitName(state.coverage) }), el("small", { text: t("meetings_title") })),
    figure("meetings_held", "held", m.held));
  if (m.deadline) {
    // The target may count one kind only (Himachal: video conferences), so its progress is its own.
    const d = m.deadline;
    $("meetings-summary").append(
      figure(`toward_target.${d.kind || "any"}`, "achieved", d.achieved, d.target_held),
      figure("held_target", "held_target", d.target_held));
  }
  $("meetings-summary").append(
    figure("workers_reached", "workers_reached", m.workers_reached),
    figure("invited", "invited", m.invited),
    figure("joined", "joined", m.joined, m.invited),
    figure("confirmed", "confirmed", m.confirmed, m.invited),
    figure("minutes", "minutes", minutes(m.attended_seconds)));
  if (m.deadline) $("meetings-summary").append(deadline(m.deadline));
}

function renderMeetings() {
  renderMeetingsSummary();
  if (!state.meetings.length) {
    $("meetings").replaceChildren(el("p", { class: "hint", text: t("no_meetings") }));
    return;
  }
  $("meetings").replaceChildren(...state.meetings.map((m) => {
    const chosen = m.meeting_id === state.meeting;
    const open = el("button",
      { type: "button", class: "choose", "aria-pressed": String(chosen), text: t("show_reach") });
    open.addEventListener("click", () => chooseMeeting(m.meeting_id));
    const starts = m.starts_at && when(m.starts_at);
    const about = [word("kind", m.kind), word("meeting_state", m.state), starts, m.organiser_unit];
    const attrs = { class: "directive meeting", "data-meeting": m.meeting_id, "data-state": m.state };
    return el("div", { ...attrs, "data-chosen": String(chosen) },
      el("div", { class: "name" },
        el("strong", { text: titleOf(m) }),
        el("small", { text: about.filter(Boolean).join(" · ") })),
      figure("invited", "invited", m.invited),
      figure("joined", "joined", m.joined, m.invited),
      figure("confirmed", "confirmed", m.confirmed, m.invited),
      open);
  }));
}

// The chosen meeting under the unit shown: totals, then one card per unit one level down.
function renderReach(changed = new Set()) {
  const reach = state.reach;
  $("reach-section").hidden = !reach;
  if (!reach) return;
  const meeting = state.meetings.find((m) => m.meeting_id === reach.meeting_id);
  $("reach-section").dataset.meeting = reach.meeting_id;
  $("reach-section").dataset.state = reach.state;
  const title = meeting ? titleOf(meeting) : word("kind", reach.kind);
  $("reach-title").textContent = `${t("reach_title")}: ${title} · ${word("meeting_state", reach.state)}`;
  $("reach-totals").replaceChildren(...reachCard(reach.totals, state.unit, ["rang"]).childNodes);
  $("reach-totals").dataset.reachUnit = state.unit;
  $("reach-units").replaceChildren(...reach.units.map((u) => reachCard(u, u.unit_id)));
  for (const card of document.querySelectorAll("[data-reach-unit]")) {
    if (changed.has(card.dataset.reachUnit)) card.classList.add("changed");
  }
}

function reachCard(counts, unitId, extra = []) {
  const known = state.names[unitId];
  const link = unitId !== state.unit && (!known || known.level !== "booth");
  const fields = [...REACH_COUNTS.slice(0, 1), ...extra, ...REACH_COUNTS.slice(1)];
  return el(link ? "a" : "div", { class: "unit", "data-reach-unit": unitId, href: link ? `#${unitId}` : null },
    el("div", { class: "name" }, el("strong", { text: known ? unitName(known) : unitId })),
    el("div", { class: "counts" },
      ...fields.map((f) => count(f, counts[f])),
      count("minutes", minutes(counts.attended_seconds))));
}

function count(field, value) {
  return el("span", { class: "count", "data-field": field, "data-value": String(value) },
    el("small", { text: t(field) }), el("b", { text: format(value) }));
}

// A live reach of the chosen meeting: redrawn in place, the units whose numbers moved highlighted.
function applyReach(reach) {
  if (!state.reach || reach.meeting_id !== state.meeting) return;
  const before = new Map([[state.unit, state.reach.totals], ...state.reach.units.map((u) => [u.unit_id, u])]);
  const changed = new Set();
  for (const [unitId, counts] of [[state.unit, reach.totals], ...reach.units.map((u) => [u.unit_id, u])]) {
    const old = before.get(unitId);
    const moved = (f) => old[f] !== counts[f];
    if (!old || REACH_COUNTS.some(moved) || moved("attended_seconds")) changed.add(unitId);
  }
  state.reach = reach;
  renderReach(changed);
}

function renderDirectives() {
  if (!state.directives.length) {
    $("directives").replaceChildren(el("p", { class: "hint", text: t("no_directives") }));
    return;
  }
  $("directives").replaceChildren(...state.directives.map((d) => {
    const bar = (label, n, s) => el("div", { class: "metric" },
      el("span", { class: "label", text: t(label) }),
      el("span", { class: "value", text: format(n) }),
      el("span", { class: "share", text: `${format(Math.round(s * 1000) / 10)}%` }),
      el("progress", { max: "1", value: String(s) }));
    return el("div", { class: "directive", "data-directive": d.directive_id },
      el("div", { class: "name" },
        el("strong", { text: `${when(d.issued_at)} · ${d.issuing_unit}` }),
        el("small", { text: `${t(`priority.${d.priority}`)} · ${d.scope.join(", ")} · ${t("targeted", { n: d.booths_targeted })}` })),
      bar("delivered", d.booths_delivered, d.shares.delivered),
      bar("acknowledged", d.booths_acknowledged, d.shares.acknowledged));
  }));
}

// --- live changes -------------------------------------------------------------------------

function openStream(unitId, watchMeeting = true) {
  closeStream();
  const meeting = watchMeeting && state.meeting ? `?meeting=${encodeURIComponent(state.meeting)}` : "";
  const stream = new EventSource(`/api/live/${encodeURIComponent(unitId)}${meeting}`);
  stream.addEventListener("ready", () => setLive(true));
  stream.addEventListener("coverage", (event) => applyChange(JSON.parse(event.data)));
  stream.addEventListener("reach", (event) => applyReach(JSON.parse(event.data)));
  stream.addEventListener("signed-out", () => showSignIn(t("signed_out")));
  stream.onerror = () => {
    setLive(false); // EventSource reconnects by itself, unless refused (the meeting, say): then without it
    if (meeting && stream.readyState === EventSource.CLOSED && state.stream === stream) openStream(unitId, false);
  };
  state.stream = stream;
}

function closeStream() {
  if (state.stream) state.stream.close();
  state.stream = null;
  setLive(false);
}

function setLive(on) {
  $("live").dataset.state = on ? "on" : "off";
  renderLive();
}

function renderLive() {
  $("live").textContent = t($("live").dataset.state === "on" ? "live_on" : "live_off");
}

// A unit's new numbers, in place: the card's values, shares and bars, without reloading anything.
function applyChange(change) {
  const coverage = state.coverage;
  if (!coverage) return;
  const unit = coverage.unit_id === change.unit_id ? coverage : coverage.children.find((c) => c.unit_id === change.unit_id);
  if (!unit) return;
  Object.assign(unit, change);
  for (const card of document.querySelectorAll(`[data-unit="${CSS.escape(change.unit_id)}"]`)) {
    for (const field of ["booths_total", "booths_with_verified_president", "booths_complete"]) {
      const value = card.querySelector(`[data-field="${field}"]`);
      if (value) {
        value.dataset.value = String(unit[field]);
        value.textContent = format(unit[field]);
      }
      const shareNode = card.querySelector(`[data-share="${field}"]`);
      if (shareNode) shareNode.textContent = share(unit[field], unit.booths_total);
      const bar = card.querySelector(`[data-bar="${field}"]`);
      if (bar) bar.value = unit[field];
    }
    card.classList.remove("changed");
    void card.offsetWidth; // restart the highlight
    card.classList.add("changed");
  }
  clearTimeout(state.refresh);
  state.refresh = setTimeout(() => state.unit && load(state.unit).catch(() => null), REFRESH_AFTER_LIVE_MS);
}

// --- wiring -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("language").addEventListener("click", () => {
    state.lang = state.lang === "hi" ? "en" : "hi";
    localStorage.setItem("lang", state.lang);
    render();
  });
  window.addEventListener("hashchange", () => show(...route()));
  render();
  start();
});
