// Pantau's public dashboard: the league of agencies, the category
// distribution, the trend, the map and the open data of a month, in
// Indonesian or English. Reads the public JSON API (/api/v1); a leader who
// signs in with an access token (`pantau token`, kept for this tab only)
// also sees the chosen agency's units, named workers and today's positions.
"use strict";

const CATS = ["sangat_baik", "baik", "cukup", "kurang", "kurang_sekali"];
const TEXT = {
  id: {
    subtitle: "Kehadiran dan kinerja pegawai, terbuka untuk seluruh masyarakat",
    month: "Bulan", league: "Peringkat instansi", rank: "#", agency: "Instansi", workers: "Pegawai",
    presence: "Kehadiran", score: "Nilai rata-rata", categories: "Kategori", findings: "Temuan (terbukti)",
    league_note: "Kelompok dengan kurang dari 5 pegawai tidak ditampilkan. Nilai terbit setelah bulan ditutup.",
    distribution: "Sebaran kategori", whole_province: "Seluruh provinsi", trend: "Tren bulanan",
    detail: "Rincian instansi", presence_days: "Kehadiran per hari kerja", activities: "Kegiatan menurut jenis",
    code: "Kode", reported: "Dilaporkan", approved: "Disetujui", rejected: "Ditolak",
    map: "Peta lokasi kerja", open_data: "Data terbuka",
    footer: "Pantau — data agregat; tidak memuat NIK, nama, alamat, telepon, atau posisi tepat pegawai.",
    province: "Provinsi", not_scored: "Nilai bulan ini belum terbit (bulan belum ditutup).",
    withheld: "disembunyikan (kurang dari 5 pegawai)", no_data: "Belum ada data.",
    map_note: (m, w) => `Sel kira-kira ${m} m; ${w} sel dengan kurang dari 5 pegawai disembunyikan.`,
    cells: "pegawai", check_ins: "presensi", raised: "temuan", confirmed: "terbukti",
    sangat_baik: "Sangat baik", baik: "Baik", cukup: "Cukup", kurang: "Kurang", kurang_sekali: "Kurang sekali",
    league_csv: "Peringkat instansi (CSV)", map_csv: "Peta sel (CSV)", trends_csv: "Tren provinsi (CSV)",
    days_csv: "Kehadiran per hari (CSV)", activities_csv: "Kegiatan (CSV)", openapi: "Dokumen API (OpenAPI)",
    avg_score: "nilai rata-rata", error: "Gagal memuat data: ", on_leave: "cuti",
    leader_sign_in: "Pimpinan", leader: "Pimpinan", token_label: "Token akses", sign_in: "Masuk", sign_out: "Keluar",
    token_note: "Token dari `pantau token` (akun pimpinan); disimpan hanya di tab ini.",
    units: "Unit kerja", unit: "Unit", named_workers: "Pegawai", name: "Nama", kind: "Jenis",
    days_present: "Hari hadir", findings_open: "Temuan terbuka", pick_agency: "Pilih instansi pada tabel peringkat.",
    not_yours: "Instansi ini bukan wewenang Anda.", expired: "Token tidak berlaku lagi; masuk kembali.",
    positions: (n, d) => `${n} posisi terakhir hari ini (${d}) ditandai merah pada peta.`,
  },
  en: {
    subtitle: "Civil servants' attendance and performance, open to every citizen",
    month: "Month", league: "Agency league", rank: "#", agency: "Agency", workers: "Workers",
    presence: "Presence", score: "Average score", categories: "Categories", findings: "Findings (confirmed)",
    league_note: "Groups of fewer than 5 workers are withheld. Scores are published once the month is closed.",
    distribution: "Category distribution", whole_province: "Whole province", trend: "Monthly trend",
    detail: "Agency detail", presence_days: "Presence per workday", activities: "Activities by type",
    code: "Code", reported: "Reported", approved: "Approved", rejected: "Rejected",
    map: "Where work happened", open_data: "Open data",
    footer: "Pantau — aggregate data only; no worker's NIK, name, address, phone or exact position.",
    province: "Province", not_scored: "This month's scores are not published yet (the month is not closed).",
    withheld: "withheld (fewer than 5 workers)", no_data: "No data yet.",
    map_note: (m, w) => `Cells are about ${m} m; ${w} cells with fewer than 5 workers are withheld.`,
    cells: "workers", check_ins: "check-ins", raised: "findings", confirmed: "confirmed",
    sangat_baik: "Very good", baik: "Good", cukup: "Fair", kurang: "Poor", kurang_sekali: "Very poor",
    league_csv: "Agency league (CSV)", map_csv: "Map cells (CSV)", trends_csv: "Province trend (CSV)",
    days_csv: "Presence per day (CSV)", activities_csv: "Activities (CSV)", openapi: "API document (OpenAPI)",
    avg_score: "average score", error: "Could not load the data: ", on_leave: "on leave",
    leader_sign_in: "Leaders", leader: "Leaders", token_label: "Access token", sign_in: "Sign in", sign_out: "Sign out",
    token_note: "A token from `pantau token` (a leader's account); kept in this tab only.",
    units: "Units", unit: "Unit", named_workers: "Workers", name: "Name", kind: "Kind",
    days_present: "Days present", findings_open: "Open findings", pick_agency: "Choose an agency in the league table.",
    not_yours: "This agency is not yours to see.", expired: "The token is no longer valid; sign in again.",
    positions: (n, d) => `${n} last positions of today (${d}) marked red on the map.`,
  },
};

const state = { lang: localStorage.getItem("pantau-lang") || "id", month: "", agency: "", league: null, map: null, layer: null,
  token: sessionStorage.getItem("pantau-token") || "", positions: null };
const $ = (sel) => document.querySelector(sel);
const t = (k) => TEXT[state.lang][k];
const locale = () => (state.lang === "id" ? "id-ID" : "en-GB");
const num = (x, d = 0) => (x === null || x === undefined ? "—" : new Intl.NumberFormat(locale(), { maximumFractionDigits: d, minimumFractionDigits: d }).format(x));
const pct = (x) => (x === null || x === undefined ? "—" : new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(x));
const monthName = (m) => new Intl.DateTimeFormat(locale(), { month: "long", year: "numeric", timeZone: "UTC" }).format(new Date(m + "-01T00:00:00Z"));
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) (k === "class" ? (e.className = v) : e.setAttribute(k, v));
  for (const k of kids) e.append(k);
  return e;
};
const svg = (tag, attrs = {}) => {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

async function get(path, token) {
  const r = await fetch(path, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(body.error || `HTTP ${r.status}`); e.status = r.status; throw e; }
  return body;
}

function translate() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-t]").forEach((e) => (e.textContent = t(e.dataset.t)));
  document.querySelectorAll("#lang button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang)));
}

function figuresOf(agencyId) {
  if (!agencyId) return state.league.province;
  const row = state.league.agencies.find((r) => r.agency.agency_id === agencyId);
  return row ? row.figures : null;
}

function renderSummary() {
  const f = state.league.province;
  const card = (v, k) => el("div", { class: "card" }, el("b", {}, v), el("span", {}, k));
  $("#summary").replaceChildren(
    card(num(f.workers), t("workers")),
    card(pct(f.presence), t("presence")),
    card(num(f.average_score, 1), t("score")),
    card(`${num(f.findings_raised)} / ${num(f.findings_confirmed)}`, `${t("raised")} / ${t("confirmed")}`),
  );
}

function miniBar(f) {
  const bar = el("span", { class: "mini", role: "img" });
  const c = f.categories;
  if (!c) return bar;
  const total = CATS.reduce((s, k) => s + c[k], 0) || 1;
  bar.setAttribute("aria-label", CATS.map((k) => `${t(k)} ${c[k]}`).join(", "));
  for (const k of CATS) { const i = el("i", { class: k }); i.style.width = `${(100 * c[k]) / total}%`; bar.append(i); }
  return bar;
}

function renderLeague() {
  const rows = state.league.agencies.map((r) => {
    const f = r.figures, a = r.agency;
    const tr = el("tr", { "data-agency-id": a.agency_id, tabindex: "0" },
      el("td", { class: "num" }, String(r.rank)),
      el("td", {}, `${a.name} (${a.code})`),
      el("td", { class: "num" }, num(f.workers)));
    if (f.suppressed) tr.append(el("td", { colspan: "4" }, t("withheld")));
    else tr.append(el("td", { class: "num" }, pct(f.presence)), el("td", { class: "num" }, num(f.average_score, 1)),
      el("td", {}, miniBar(f)), el("td", { class: "num" }, `${num(f.findings_raised)} (${num(f.findings_confirmed)})`));
    if (a.agency_id === state.agency) tr.classList.add("selected");
    const pick = () => selectAgency(a.agency_id);
    tr.addEventListener("click", pick);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
    return tr;
  });
  $("#league tbody").replaceChildren(...rows);
}

function renderCategories() {
  const f = figuresOf(state.agency) || {};
  const box = $("#categories");
  const name = state.agency ? state.league.agencies.find((r) => r.agency.agency_id === state.agency).agency.name : t("province");
  $("#scope").textContent = `— ${name}`;
  $("#province").hidden = !state.agency;
  if (!f.scored || !f.categories || f.suppressed) {
    box.replaceChildren(el("p", { class: "note" }, f.suppressed ? t("withheld") : t("not_scored")));
    return;
  }
  const W = 360, H = 200, pad = 24, bw = (W - pad * 2) / CATS.length;
  const max = Math.max(1, ...CATS.map((k) => f.categories[k]));
  const s = svg("svg", { viewBox: `0 0 ${W} ${H + 40}`, width: "100%", role: "img", "aria-label": t("distribution") });
  CATS.forEach((k, i) => {
    const n = f.categories[k], h = (H - pad) * (n / max), x = pad + i * bw + 6, y = H - h;
    const r = svg("rect", { class: `bar ${k}`, x, y, width: bw - 12, height: Math.max(h, 0.5), "data-category": k, "data-count": n });
    const title = svg("title"); title.textContent = `${t(k)}: ${n}`; r.append(title);
    const v = svg("text", { x: x + (bw - 12) / 2, y: y - 4, "text-anchor": "middle" }); v.textContent = num(n);
    // Two-word names ("Kurang sekali") on two lines, so neighbours don't overlap.
    const l = svg("text", { x: x + (bw - 12) / 2, y: H + 16, "text-anchor": "middle" });
    t(k).split(" ").forEach((w, j) => { const ts = svg("tspan", { x: x + (bw - 12) / 2, dy: j ? "1.1em" : 0 }); ts.textContent = w; l.append(ts); });
    s.append(r, v, l);
  });
  box.replaceChildren(s);
}

async function renderTrend() {
  const data = await get(`/api/v1/trends?agency_id=${encodeURIComponent(state.agency)}`);
  const pts = data.months.filter((m) => m.figures && !m.figures.suppressed);
  const box = $("#trend");
  if (!pts.length) { box.replaceChildren(el("p", { class: "note" }, t("no_data"))); return; }
  const W = 360, H = 180, pad = 30, step = pts.length > 1 ? (W - 2 * pad) / (pts.length - 1) : 0;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H + 30}`, width: "100%", role: "img", "aria-label": t("trend") });
  const line = (key, scale, cls) => {
    const d = pts.map((m, i) => [pad + i * step, H - (H - pad) * ((m.figures[key] ?? 0) / scale)]);
    s.append(svg("polyline", { points: d.map((p) => p.join(",")).join(" "), fill: "none", stroke: cls, "stroke-width": 2 }));
    d.forEach((p, i) => { const c = svg("circle", { cx: p[0], cy: p[1], r: 3, fill: cls }); const ti = svg("title");
      ti.textContent = `${monthName(pts[i].month)}: ${key === "presence" ? pct(pts[i].figures[key]) : num(pts[i].figures[key], 1)}`; c.append(ti); s.append(c); });
  };
  line("average_score", 100, "#0b5cad");
  line("presence", 1, "#1a7f37");
  pts.forEach((m, i) => { const l = svg("text", { x: pad + i * step, y: H + 20, "text-anchor": "middle" }); l.textContent = m.month; s.append(l); });
  const legend = el("p", { class: "note" }, `— ${t("avg_score")} (0–100)  — ${t("presence")} (0–100%)`);
  box.replaceChildren(s, legend);
}

async function renderDetail() {
  const box = $("#detail");
  if (!state.agency) { box.hidden = true; return; }
  const d = await get(`/api/v1/agencies/${encodeURIComponent(state.agency)}?month=${state.month}`);
  box.hidden = false;
  const days = d.days.map((x) => {
    const expected = x.employed - (x.on_leave || 0);
    const leave = x.on_leave ? ` · ${num(x.on_leave)} ${t("on_leave")}` : "";
    return el("div", {}, `${x.date}: ${num(x.present)} / ${num(expected)} (${pct(expected ? x.present / expected : null)})${leave}`);
  });
  $("#days").replaceChildren(...(days.length ? days : [el("p", { class: "note" }, t("no_data"))]));
  $("#activities tbody").replaceChildren(...d.activities.map((a) => el("tr", {}, el("td", {}, a.code),
    el("td", { class: "num" }, num(a.reported)), el("td", { class: "num" }, num(a.approved)), el("td", { class: "num" }, num(a.rejected)))));
}

async function renderMap(config) {
  const data = await get(`/api/v1/map?month=${state.month}&agency_id=${encodeURIComponent(state.agency)}`);
  if (!state.map) {
    state.map = L.map("map", { scrollWheelZoom: false }).setView([-2.5, 118], 5);
    L.control.scale({ imperial: false }).addTo(state.map);
    if (config.tile_url) L.tileLayer(config.tile_url, { attribution: config.tile_attribution, maxZoom: 18 }).addTo(state.map);
  }
  if (state.layer) state.layer.remove();
  state.layer = L.featureGroup();
  const max = Math.max(1, ...data.cells.map((c) => c.workers));
  for (const c of data.cells) {
    const m = L.circleMarker([c.latitude, c.longitude], { className: "cell", radius: 6 + 14 * Math.sqrt(c.workers / max), color: "#0b5cad", weight: 1, fillOpacity: 0.5 });
    m.bindTooltip(String(c.workers), { permanent: true, direction: "center", className: "cell-label" });
    m.bindPopup(`${num(c.workers)} ${t("cells")}, ${num(c.check_ins)} ${t("check_ins")}`);
    state.layer.addLayer(m);
  }
  state.layer.addTo(state.map);
  if (data.cells.length) state.map.fitBounds(state.layer.getBounds(), { padding: [20, 20], maxZoom: 14 });
  $("#map-note").textContent = t("map_note")(num(data.cell_size_m), num(data.withheld_cells));
}

function leaderNote(text) { $("#leader-note").textContent = text; }

async function renderLeader() {
  const box = $("#leader");
  box.hidden = !state.token && !box.dataset.open;
  $("#leader-form").hidden = Boolean(state.token);
  $("#leader-body").hidden = !state.token;
  if (state.positions) { state.positions.remove(); state.positions = null; }
  $("#leader-units tbody").replaceChildren();
  $("#leader-workers tbody").replaceChildren();
  if (!state.token) return;
  if (!state.agency) { $("#leader-scope").textContent = ""; leaderNote(t("pick_agency")); return; }
  const a = encodeURIComponent(state.agency);
  $("#leader-scope").textContent = `— ${state.league.agencies.find((r) => r.agency.agency_id === state.agency).agency.name}`;
  let units, workers, positions;
  try {
    [units, workers, positions] = await Promise.all([
      get(`/api/v1/agencies/${a}/units?month=${state.month}`, state.token),
      get(`/api/v1/agencies/${a}/workers?month=${state.month}`, state.token),
      get(`/api/v1/agencies/${a}/positions`, state.token)]);
  } catch (e) {
    if (e.status === 401) { signOut(); leaderNote(t("expired")); return; }
    if (e.status === 403) { leaderNote(t("not_yours")); return; }
    throw e;
  }
  $("#leader-units tbody").replaceChildren(...units.units.map((u) => el("tr", {}, el("td", {}, `${u.name} (${u.code})`),
    el("td", { class: "num" }, num(u.figures.workers)), el("td", { class: "num" }, pct(u.figures.presence)),
    el("td", { class: "num" }, num(u.figures.average_score, 1)))));
  const unitName = Object.fromEntries(units.units.map((u) => [u.unit_id, u.code]));
  $("#leader-workers tbody").replaceChildren(...workers.workers.map((w) => el("tr", { "data-worker-id": w.worker_id },
    el("td", {}, w.name), el("td", {}, w.kind), el("td", {}, unitName[w.unit_id] || w.unit_id),
    el("td", { class: "num" }, num(w.days_present)), el("td", { class: "num" }, num(w.activities_approved)),
    el("td", { class: "num" }, num(w.score, 1)), el("td", {}, w.category ? t(w.category) : "—"),
    el("td", { class: "num" }, num(w.findings_open)))));
  state.positions = L.featureGroup();
  for (const p of positions.positions) {
    const m = L.circleMarker([p.latitude, p.longitude], { className: "position", radius: 5, color: p.inside ? "#b3261e" : "#6b0f0a", weight: 2, fillOpacity: 0.8 });
    m.bindPopup(`${p.name} — ${new Date(p.at).toLocaleTimeString(locale())}${p.inside ? "" : " (outside)"}`);
    state.positions.addLayer(m);
  }
  state.positions.addTo(state.map);
  leaderNote(t("positions")(num(positions.positions.length), positions.date));
}

function signOut() {
  state.token = "";
  sessionStorage.removeItem("pantau-token");
  renderLeader();
}

function renderDownloads() {
  const m = state.month, a = encodeURIComponent(state.agency);
  const links = [["league_csv", `/api/v1/league.csv?month=${m}`], ["map_csv", `/api/v1/map.csv?month=${m}&agency_id=${a}`],
    ["trends_csv", `/api/v1/trends.csv?agency_id=${a}`]];
  if (state.agency) links.push(["days_csv", `/api/v1/agencies/${a}/days.csv?month=${m}`], ["activities_csv", `/api/v1/agencies/${a}/activities.csv?month=${m}`]);
  links.push(["openapi", "/api/openapi.yaml"]);
  $("#downloads").replaceChildren(...links.map(([k, href]) => el("li", {}, el("a", { href }, t(k)))));
}

let config = null;
async function render() {
  document.body.dataset.state = "loading";
  try {
    config = config || (await get("/api/v1/config"));
    state.league = await get(`/api/v1/league?month=${state.month}`);
    if (state.agency && !figuresOf(state.agency)) state.agency = "";
    translate();
    renderSummary();
    renderLeague();
    renderCategories();
    renderDownloads();
    await Promise.all([renderTrend(), renderDetail(), renderMap(config)]);
    await renderLeader();
    document.body.dataset.month = state.month;
    document.body.dataset.state = "ready";
  } catch (e) {
    $("#message").hidden = false;
    $("#message").textContent = t("error") + e.message;
    document.body.dataset.state = "error";
  }
}

function selectAgency(id) {
  state.agency = id;
  render();
}

function fillMonths(months) {
  $("#month").replaceChildren(...months.map((m) => el("option", { value: m }, monthName(m))));
  $("#month").value = state.month;
}

async function start() {
  translate();
  document.querySelectorAll("#lang button").forEach((b) => b.addEventListener("click", () => {
    state.lang = b.dataset.lang; localStorage.setItem("pantau-lang", state.lang); fillMonths(months); render();
  }));
  $("#province").addEventListener("click", () => selectAgency(""));
  $("#leader-btn").addEventListener("click", () => {
    const box = $("#leader");
    box.dataset.open = box.dataset.open ? "" : "1";
    box.hidden = !state.token && !box.dataset.open;
    $("#leader-form").hidden = Boolean(state.token);
    if (!box.hidden) box.scrollIntoView({ behavior: "smooth" });
  });
  $("#leader-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("#leader-token").value.trim();
    $("#leader-token").value = "";
    if (state.token) sessionStorage.setItem("pantau-token", state.token);
    render();
  });
  $("#leader-out").addEventListener("click", () => { signOut(); render(); });
  let months = [];
  try { months = (await get("/api/v1/months")).months; } catch (e) { months = []; }
  if (!months.length) { $("#message").hidden = false; $("#message").textContent = t("no_data"); }
  const wanted = new URLSearchParams(location.search).get("month");
  state.month = months.includes(wanted) ? wanted : months[0] || "";
  fillMonths(months);
  $("#month").addEventListener("change", (e) => {
    state.month = e.target.value;
    history.replaceState(null, "", `?month=${state.month}`);
    render();
  });
  await render();
}

start();
