// The supervisor's screen: the review queue (approve, reject or return with a reason, approve
// many at once), where the unit checked in today on a map, and the monthly behaviour rating.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import L from "leaflet";
import "leaflet/dist/leaflet.css";
import { activity, attendance, explain, identity, requestId } from "./rpc.js";
import { Photo } from "./photo.js";
import { t } from "./i18n.js";
import { thisMonth } from "./worker.js";
import type { Session } from "./session.js";
import { ReviewDecision, type QueueItem } from "./gen/pantau/activity/v1/activity_pb.js";
import { EvidenceKind } from "./gen/pantau/events/v1/activity_pb.js";
import { WorkerStatus, type Worker } from "./gen/pantau/identity/v1/identity_pb.js";
import type { CheckInPosition } from "./gen/pantau/attendance/v1/attendance_pb.js";

export function SupervisorScreen({ s }: { s: Session }) {
  const [workers, setWorkers] = useState<Worker[]>([]);
  useEffect(() => {
    identity
      .listWorkers({ agencyId: s.agencyId, supervisorId: s.workerId, status: WorkerStatus.ACTIVE, pageSize: 1000 })
      .then((r) => setWorkers(r.workers))
      .catch(() => undefined);
  }, [s.agencyId, s.workerId]);
  const names = useMemo(() => new Map(workers.map((w) => [w.workerId, w.name])), [workers]);
  return (
    <div class="screen" data-testid="supervisor">
      <Queue names={names} />
      <TodayMap />
      <Rating workers={workers} />
    </div>
  );
}

function Queue({ names }: { names: Map<string, string> }) {
  const [items, setItems] = useState<QueueItem[]>([]);
  const [total, setTotal] = useState(0);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [reason, setReason] = useState<{ id: string; decision: ReviewDecision } | null>(null);
  const [note, setNote] = useState("");
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);

  const load = async () => {
    try {
      const r = await activity.getReviewQueue({ limit: 100 });
      setItems(r.items);
      setTotal(r.total);
      setPicked((p) => new Set([...p].filter((id) => r.items.some((i) => i.report?.reportId === id))));
    } catch (e) {
      setMessage(explain(e));
    }
  };
  useEffect(() => {
    load();
  }, []);

  const review = async (id: string, decision: ReviewDecision, why = "") => {
    setBusy(true);
    try {
      await activity.reviewActivity({ requestId: requestId(), reportId: id, decision, reason: why });
      setMessage(t(decision === ReviewDecision.APPROVE ? "review.approved" : decision === ReviewDecision.REJECT ? "review.rejected" : "review.returned"));
      setReason(null);
      setNote("");
      await load();
    } catch (e) {
      setMessage(explain(e));
    } finally {
      setBusy(false);
    }
  };

  const bulk = async () => {
    setBusy(true);
    try {
      const r = await activity.bulkApprove({ requestId: requestId(), reportIds: [...picked] });
      const ok = r.results.filter((x) => x.approved).length;
      const failed = r.results.filter((x) => !x.approved);
      setMessage(t("review.bulkDone", { ok, failed: failed.length }) + (failed.length ? `: ${failed.map((f) => f.error).join("; ")}` : ""));
      setPicked(new Set());
      await load();
    } catch (e) {
      setMessage(explain(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" data-testid="queue">
      <div class="row spread">
        <h2>{t("review.title", { n: total })}</h2>
        <button class="link" onClick={load} data-testid="refresh-queue">
          {t("refresh")}
        </button>
      </div>
      {message && <p class="verdict" role="status" data-testid="review-message">{message}</p>}
      {items.length === 0 && <p class="muted">{t("review.empty")}</p>}
      {items.length > 1 && (
        <div class="row">
          <button class="secondary" onClick={() => setPicked(new Set(items.map((i) => i.report!.reportId)))}>
            {t("review.pickAll")}
          </button>
          <button class="primary" data-testid="bulk-approve" disabled={busy || picked.size === 0} onClick={bulk}>
            {t("review.bulk", { n: picked.size })}
          </button>
        </div>
      )}
      <ul class="queue">
        {items.map(({ report: r, ageSeconds }) => {
          if (!r) return null;
          const photo = r.evidence.find((e) => e.kind === EvidenceKind.PHOTO)?.ref;
          return (
            <li data-report={r.reportId}>
              <label class="pick">
                <input
                  type="checkbox"
                  checked={picked.has(r.reportId)}
                  onChange={(e) => {
                    const next = new Set(picked);
                    if (e.currentTarget.checked) next.add(r.reportId);
                    else next.delete(r.reportId);
                    setPicked(next);
                  }}
                  aria-label={t("review.pick")}
                />
              </label>
              {photo && <Photo from="activity" sha256={photo} alt={t("report.photo")} class="thumb" />}
              <div class="what">
                <strong>{names.get(r.workerId) ?? r.workerId.slice(0, 8)}</strong>
                <br />
                {r.activityName || r.code} · {r.quantity} {r.unit}
                <br />
                <small class="muted">
                  {r.date} {r.startTime}–{r.endTime} · {t("review.age", { h: Math.floor(Number(ageSeconds) / 3600) })}
                </small>
                {r.description && <p>{r.description}</p>}
                {r.duplicateOf.length > 0 && <p class="warn">{t("review.duplicate", { n: r.duplicateOf.length })}</p>}
                {reason?.id === r.reportId ? (
                  <div class="reason">
                    <textarea rows={2} placeholder={t("review.reason")} value={note} onInput={(e) => setNote(e.currentTarget.value)} data-testid="reason" />
                    <div class="row">
                      <button class="primary" disabled={busy || !note.trim()} onClick={() => review(r.reportId, reason.decision, note.trim())} data-testid="confirm-reason">
                        {reason.decision === ReviewDecision.REJECT ? t("review.reject") : t("review.return")}
                      </button>
                      <button class="link" onClick={() => setReason(null)}>
                        {t("cancel")}
                      </button>
                    </div>
                  </div>
                ) : (
                  <div class="row">
                    <button class="primary" disabled={busy} data-testid="approve" onClick={() => review(r.reportId, ReviewDecision.APPROVE)}>
                      {t("review.approve")}
                    </button>
                    <button class="secondary" disabled={busy} data-testid="reject" onClick={() => setReason({ id: r.reportId, decision: ReviewDecision.REJECT })}>
                      {t("review.reject")}
                    </button>
                    <button class="secondary" disabled={busy} data-testid="return" onClick={() => setReason({ id: r.reportId, decision: ReviewDecision.RETURN })}>
                      {t("review.return")}
                    </button>
                  </div>
                )}
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** The dashboard's tile settings (its /api/v1/config), so both maps use one tile server. */
async function tiles(): Promise<{ url: string; attribution: string }> {
  try {
    const c = await (await fetch("/api/v1/config")).json();
    return { url: c.tile_url ?? "", attribution: c.tile_attribution ?? "" };
  } catch {
    return { url: "", attribution: "" };
  }
}

function TodayMap() {
  const el = useRef<HTMLDivElement>(null);
  const [positions, setPositions] = useState<CheckInPosition[]>([]);
  const [error, setError] = useState("");
  useEffect(() => {
    attendance
      .listCheckInPositions({})
      .then((r) => setPositions(r.positions))
      .catch((e) => setError(explain(e)));
  }, []);
  useEffect(() => {
    if (!el.current) return;
    const map = L.map(el.current, { zoomControl: true, attributionControl: true });
    let live = true;
    tiles().then((tl) => live && tl.url && L.tileLayer(tl.url, { attribution: tl.attribution, maxZoom: 19 }).addTo(map));
    const points = positions.map((p) => {
      const m = L.circleMarker([p.latitude, p.longitude], {
        radius: 9,
        color: p.inside ? "#0f5132" : "#b02a37",
        fillOpacity: 0.7,
      }).addTo(map);
      m.bindTooltip(`${p.workerName}: ${p.inside ? t("map.inside") : t("map.outside", { m: p.distanceM })}`);
      return [p.latitude, p.longitude] as [number, number];
    });
    if (points.length) map.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 17 });
    else map.setView([-0.5, 117.15], 11);
    return () => {
      live = false;
      map.remove();
    };
  }, [positions]);
  const inside = positions.filter((p) => p.inside).length;
  return (
    <section class="card" data-testid="today-map">
      <h2>{t("map.title")}</h2>
      <p class="muted" data-testid="map-summary">{t("map.summary", { n: positions.length, inside })}</p>
      {error && <p class="error">{error}</p>}
      <div class="map" ref={el} />
    </section>
  );
}

const ASPECTS = ["berorientasiPelayanan", "akuntabel", "kompeten", "harmonis", "loyal", "adaptif", "kolaboratif"] as const;

function Rating({ workers }: { workers: Worker[] }) {
  const [worker, setWorker] = useState("");
  const [month, setMonth] = useState(thisMonth());
  const [scores, setScores] = useState<Record<(typeof ASPECTS)[number], number>>(() => Object.fromEntries(ASPECTS.map((a) => [a, 4])) as never);
  const [note, setNote] = useState("");
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!worker && workers[0]) setWorker(workers[0].workerId);
  }, [workers]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      await activity.rateBehaviour({ requestId: requestId(), workerId: worker, month, scores, note });
      setMessage({ ok: true, text: t("rating.saved") });
    } catch (err) {
      setMessage({ ok: false, text: explain(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={submit} data-testid="rating">
      <h2>{t("rating.title")}</h2>
      <label>
        {t("rating.worker")}
        <select value={worker} onChange={(e) => setWorker(e.currentTarget.value)} required>
          {workers.map((w) => (
            <option value={w.workerId}>
              {w.name} ({w.employeeId})
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("rating.month")}
        <input type="month" value={month} max={thisMonth()} onInput={(e) => setMonth(e.currentTarget.value)} required />
      </label>
      {ASPECTS.map((a) => (
        <label class="aspect">
          <span>{t(`aspect.${a}`)}</span>
          <span class="stars" role="radiogroup" aria-label={t(`aspect.${a}`)}>
            {[1, 2, 3, 4, 5].map((n) => (
              <button type="button" role="radio" aria-checked={scores[a] === n} class={scores[a] >= n ? "on" : ""} onClick={() => setScores({ ...scores, [a]: n })}>
                {n}
              </button>
            ))}
          </span>
        </label>
      ))}
      <label>
        {t("rating.note")}
        <textarea rows={2} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
      </label>
      {message && <p class={message.ok ? "verdict ok" : "error"} role="status">{message.text}</p>}
      <button class="primary big" type="submit" disabled={busy || !worker}>
        {t("rating.save")}
      </button>
    </form>
  );
}
