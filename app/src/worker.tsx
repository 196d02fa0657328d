// The worker's screen: check in and out where they stand, their rotating QR code for a
// ceremony, an activity report with a camera photo, and the month so far.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import QRCode from "qrcode";
import { activity, attendance, explain, identity, requestId, scoring } from "./rpc.js";
import { position } from "./geo.js";
import { rotatingCode } from "./rotating.js";
import { Camera, shrink, snapshot } from "./camera.js";
import { t, statusLabel, categoryLabel, fmt } from "./i18n.js";
import type { Session } from "./session.js";
import { CheckKind, type CheckInResponse } from "./gen/pantau/attendance/v1/attendance_pb.js";
import { ReportStatus, type CatalogEntry, type Report } from "./gen/pantau/activity/v1/activity_pb.js";
import { EvidenceKind } from "./gen/pantau/events/v1/activity_pb.js";
import type { GetWorkerMonthResponse as ScoreMonth } from "./gen/pantau/scoring/v1/scoring_pb.js";

export const today = () => localDate(new Date());
export const thisMonth = () => today().slice(0, 7);
export function localDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
const hhmm = (d: Date) => `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;

/** A device id for check-ins, kept on the phone (the fraud service compares devices). */
function deviceId(): string {
  let id = localStorage.getItem("pantau.device.id");
  if (!id) {
    id = `web-${requestId()}`;
    localStorage.setItem("pantau.device.id", id);
  }
  return id;
}

export function WorkerScreen({ s }: { s: Session }) {
  const [name, setName] = useState("");
  const [version, setVersion] = useState(0);
  useEffect(() => {
    identity
      .getWorker({ workerId: s.workerId })
      .then((r) => setName(r.worker?.name ?? ""))
      .catch(() => undefined);
  }, [s.workerId]);
  return (
    <div class="screen" data-testid="worker">
      <h1>{name ? t("worker.hello", { name }) : t("tab.worker")}</h1>
      <CheckIn />
      <MyCode workerId={s.workerId} />
      <ReportForm s={s} onReported={() => setVersion((v) => v + 1)} />
      <Month s={s} version={version} />
    </div>
  );
}

function CheckIn() {
  const [busy, setBusy] = useState(false);
  const [last, setLast] = useState<{ kind: CheckKind; r: CheckInResponse } | null>(null);
  const [error, setError] = useState("");
  const check = async (kind: CheckKind) => {
    setBusy(true);
    setError("");
    try {
      const fix = await position().catch((e) => {
        throw new Error(`${t("geo.unavailable")}: ${e.message}`);
      });
      const r = await attendance.checkIn({
        requestId: requestId(),
        kind,
        latitude: fix.latitude,
        longitude: fix.longitude,
        accuracyM: fix.accuracy,
        deviceId: deviceId(),
        claimedAt: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 },
      });
      setLast({ kind, r });
    } catch (e) {
      setError(e instanceof Error && e.message.startsWith(t("geo.unavailable")) ? e.message : explain(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card">
      <h2>{t("checkin.title")}</h2>
      <div class="row">
        <button class="primary big" data-testid="check-in" disabled={busy} onClick={() => check(CheckKind.IN)}>
          {t("checkin.in")}
        </button>
        <button class="secondary big" data-testid="check-out" disabled={busy} onClick={() => check(CheckKind.OUT)}>
          {t("checkin.out")}
        </button>
      </div>
      {busy && <p class="muted">{t("geo.finding")}</p>}
      {last && (
        <p class={last.r.inside ? "verdict ok" : "verdict bad"} data-testid="checkin-result" data-inside={String(last.r.inside)}>
          {last.kind === CheckKind.IN ? t("checkin.recordedIn") : t("checkin.recordedOut")}{" "}
          {last.r.inside ? t("checkin.inside", { m: last.r.distanceM }) : t("checkin.outside", { m: last.r.distanceM })}
          {last.r.lateMinutes > 0 && ` · ${t("checkin.late", { m: last.r.lateMinutes })}`}
        </p>
      )}
      {error && <p class="error" role="alert">{error}</p>}
    </section>
  );
}

function MyCode({ workerId }: { workerId: string }) {
  const [open, setOpen] = useState(false);
  return (
    <section class="card">
      <h2>{t("qr.title")}</h2>
      <p class="muted">{t("qr.hint")}</p>
      <button class="primary big" data-testid="show-qr" onClick={() => setOpen(true)}>
        {t("qr.show")}
      </button>
      {open && <QrOverlay workerId={workerId} onClose={() => setOpen(false)} />}
    </section>
  );
}

const SECRET = "pantau.qr.secret";

/** Full screen, bright, re-drawn every step from the secret (fetched once, kept for offline). */
function QrOverlay({ workerId, onClose }: { workerId: string; onClose: () => void }) {
  const [svg, setSvg] = useState("");
  const [error, setError] = useState("");
  const [left, setLeft] = useState(0);
  useEffect(() => {
    let timer = 0;
    let stopped = false;
    (async () => {
      let stored = JSON.parse(localStorage.getItem(SECRET) ?? "null") as { w: string; v: number; s: string; step: number } | null;
      try {
        const r = await attendance.getRotatingSecret({});
        stored = { w: r.workerId, v: r.version, s: btoa(String.fromCharCode(...r.secret)), step: r.stepSeconds || 30 };
        localStorage.setItem(SECRET, JSON.stringify(stored));
      } catch (e) {
        if (!stored || stored.w.replace(/-/g, "") !== workerId.replace(/-/g, "")) {
          setError(explain(e));
          return;
        }
      }
      const secret = Uint8Array.from(atob(stored.s), (c) => c.charCodeAt(0));
      let shown = -1;
      const draw = async () => {
        if (stopped || !stored) return;
        const now = Date.now() / 1000;
        const step = Math.floor(now / stored.step);
        // The countdown ticks every second; the code is drawn again only when its step turns.
        if (step !== shown) {
          shown = step;
          const code = rotatingCode(secret, stored.w, stored.v, BigInt(step));
          setSvg(await QRCode.toString(code, { type: "svg", errorCorrectionLevel: "M", margin: 2 }));
        }
        setLeft(Math.ceil((step + 1) * stored.step - now));
        timer = window.setTimeout(draw, 1000);
      };
      draw();
    })();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [workerId]);
  return (
    <div class="overlay qr" role="dialog" aria-label={t("qr.title")} data-testid="qr-overlay">
      {error ? <p class="error">{error}</p> : <div class="qrcode" data-testid="qr-code" dangerouslySetInnerHTML={{ __html: svg }} />}
      {!error && <p class="muted">{t("qr.rotates", { s: left })}</p>}
      <button class="secondary big" onClick={onClose}>
        {t("close")}
      </button>
    </div>
  );
}

function ReportForm({ s, onReported }: { s: Session; onReported: () => void }) {
  const [catalog, setCatalog] = useState<CatalogEntry[]>([]);
  const [code, setCode] = useState("");
  const [quantity, setQuantity] = useState("1");
  const now = new Date();
  // The last hour, but not before midnight: a report covers one day.
  const hourAgo = new Date(now.getTime() - 60 * 60 * 1000);
  const [start, setStart] = useState(hourAgo.getDate() === now.getDate() ? hhmm(hourAgo) : "00:00");
  const [end, setEnd] = useState(hhmm(now));
  const [description, setDescription] = useState("");
  const [photo, setPhoto] = useState<Blob | null>(null);
  const [camera, setCamera] = useState(false);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const video = useRef<HTMLVideoElement | null>(null);
  // One object URL per picture (not per render), released when the picture changes.
  const preview = useMemo(() => (photo ? URL.createObjectURL(photo) : ""), [photo]);
  useEffect(() => () => preview && URL.revokeObjectURL(preview), [preview]);

  useEffect(() => {
    activity
      .getCatalog({ agencyId: s.agencyId })
      .then((r) => {
        setCatalog(r.activities);
        if (r.activities[0]?.activity) setCode(r.activities[0].activity.code);
      })
      .catch((e) => setMessage({ ok: false, text: explain(e) }));
  }, [s.agencyId]);

  const entry = catalog.find((c) => c.activity?.code === code)?.activity;

  const take = async () => {
    if (!video.current) return;
    setPhoto(await snapshot(video.current));
    setCamera(false);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      const fix = await position().catch(() => null);
      if (entry?.locationRequired && !fix) throw new Error(t("report.needLocation"));
      if (entry?.photoRequired && !photo) throw new Error(t("report.needPhoto"));
      const evidence = [];
      if (photo) {
        const up = await activity.uploadPhoto({ content: new Uint8Array(await photo.arrayBuffer()) });
        evidence.push({ kind: EvidenceKind.PHOTO, ref: up.sha256 });
      }
      await activity.reportActivity({
        requestId: requestId(),
        code,
        quantity: Number(quantity),
        date: today(),
        startTime: start,
        endTime: end,
        description,
        location: fix ? { latitude: fix.latitude, longitude: fix.longitude, siteId: "" } : undefined,
        evidence,
      });
      setMessage({ ok: true, text: t("report.sent") });
      setDescription("");
      setPhoto(null);
      onReported();
    } catch (err) {
      setMessage({ ok: false, text: err instanceof Error && !("code" in err) ? err.message : explain(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card" onSubmit={submit} data-testid="report-form">
      <h2>{t("report.title")}</h2>
      <label>
        {t("report.activity")}
        <select name="code" value={code} onChange={(e) => setCode(e.currentTarget.value)} required>
          {catalog.map((c) => c.activity && (
            <option value={c.activity.code}>
              {c.activity.name} ({c.activity.unit})
            </option>
          ))}
        </select>
      </label>
      <div class="row">
        <label>
          {t("report.quantity")} {entry && `(${entry.unit})`}
          <input name="quantity" type="number" min="0.1" step="any" inputMode="decimal" required value={quantity} onInput={(e) => setQuantity(e.currentTarget.value)} />
        </label>
        <label>
          {t("report.start")}
          <input name="start" type="time" required value={start} onInput={(e) => setStart(e.currentTarget.value)} />
        </label>
        <label>
          {t("report.end")}
          <input name="end" type="time" required value={end} onInput={(e) => setEnd(e.currentTarget.value)} />
        </label>
      </div>
      <label>
        {t("report.description")}
        <textarea name="description" rows={2} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <div class="photo">
        {camera && <Camera videoRef={video} label={t("report.camera")} />}
        {preview && !camera && <img src={preview} alt={t("report.photo")} data-testid="photo-preview" />}
        <div class="row">
          {camera ? (
            <button type="button" class="primary" data-testid="take-photo" onClick={take}>
              {t("report.take")}
            </button>
          ) : (
            <button type="button" class="secondary" data-testid="open-camera" onClick={() => setCamera(true)}>
              {photo ? t("report.retake") : t("report.photo")}
            </button>
          )}
          <label class="file secondary">
            {t("report.file")}
            <input type="file" accept="image/*" capture="environment" data-testid="photo-file" onChange={async (e) => {
              const f = e.currentTarget.files?.[0];
              if (f) setPhoto(await shrink(f));
            }} />
          </label>
        </div>
        {entry?.photoRequired && <p class="muted">{t("report.photoRequired")}</p>}
      </div>
      {message && <p class={message.ok ? "verdict ok" : "error"} role="status" data-testid="report-message">{message.text}</p>}
      <button class="primary big" type="submit" disabled={busy || !code} data-testid="send-report">
        {busy ? t("busy") : t("report.send")}
      </button>
    </form>
  );
}

function Month({ s, version }: { s: Session; version: number }) {
  const [score, setScore] = useState<ScoreMonth | null>(null);
  const [reports, setReports] = useState<Report[]>([]);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  const month = thisMonth();
  useEffect(() => {
    let stale = false;
    Promise.all([
      scoring.getWorkerMonth({ workerId: "", month }),
      activity.getWorkerMonth({ workerId: s.workerId, month }),
    ])
      .then(([sc, act]) => {
        if (stale) return;
        setScore(sc);
        setReports([...act.reports].sort((a, b) => (a.date + a.startTime < b.date + b.startTime ? 1 : -1)));
        setError("");
      })
      .catch((e) => !stale && setError(explain(e)));
    return () => {
      stale = true;
    };
  }, [s.workerId, month, version, tick]);
  // Approvals arrive from the supervisor's phone: look again every 15 s while open.
  useEffect(() => {
    const timer = window.setInterval(() => document.visibilityState === "visible" && setTick((x) => x + 1), 15_000);
    return () => clearInterval(timer);
  }, []);
  const live = score?.live;
  return (
    <section class="card" data-testid="month">
      <div class="row spread">
        <h2>{t("month.title", { month })}</h2>
        <button class="link" data-testid="refresh-month" onClick={() => setTick((x) => x + 1)}>
          {t("refresh")}
        </button>
      </div>
      {error && <p class="error">{error}</p>}
      <dl class="figures">
        <div>
          <dt>{t("month.points")}</dt>
          <dd data-testid="points">{fmt(live?.points ?? 0)}</dd>
        </div>
        <div>
          <dt>{t("month.score")}</dt>
          <dd data-testid="score">{fmt(live?.score ?? 0)}</dd>
        </div>
        <div>
          <dt>{t("month.category")}</dt>
          <dd data-testid="category">{live ? categoryLabel(live.category) : "–"}</dd>
        </div>
        <div>
          <dt>{t("month.days")}</dt>
          <dd>{live?.daysPresent ?? 0}</dd>
        </div>
      </dl>
      <h3>{t("month.reports")}</h3>
      {reports.length === 0 && <p class="muted">{t("month.noReports")}</p>}
      <ul class="list" data-testid="my-reports">
        {reports.map((r) => (
          <li data-report={r.reportId} data-status={ReportStatus[r.status]}>
            <span>
              <strong>{r.activityName || r.code}</strong> · {r.quantity} {r.unit}
              <br />
              <small class="muted">
                {r.date} {r.startTime}–{r.endTime}
              </small>
              {r.reviewNote && (
                <>
                  <br />
                  <small>{r.reviewNote}</small>
                </>
              )}
            </span>
            <span class={`status s${r.status}`}>{statusLabel(r.status)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
