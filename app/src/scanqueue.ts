// The scanner's scans, kept on the phone until the service has judged them: a scan is queued
// the moment it is read (so nothing is lost offline or when the app closes), uploaded in
// batches, and dropped from the queue only once its verdict has arrived. The service judges a
// (scanner, device_seq) once, so an upload repeated after a lost answer is harmless: it gets
// the first verdict back, marked duplicate.
import { attendance, device, isOffline } from "./rpc.js";
import { codeWorker } from "./rotating.js";

export interface Queued {
  sessionId: string;
  /** device_seq, a decimal string (uint64). */
  seq: string;
  payload: string;
  at: number;
  latitude: number;
  longitude: number;
  accuracy: number;
}

export interface Verdict {
  seq: string;
  worker: string;
  /** Undefined while unsent. */
  accepted?: boolean;
  reason?: string;
  name?: string;
  employeeId?: string;
  unit?: string;
  agency?: string;
  photoRef?: string;
  at: number;
}

const QUEUE = "pantau.scans.queue";
const SEQ = "pantau.scans.seq";
const DEVICE = "pantau.scanner.device";
const results = (s: string) => `pantau.scans.results.${s}`;
const BATCH = 500;

function load<T>(key: string, fallback: T): T {
  try {
    return (JSON.parse(localStorage.getItem(key) ?? "null") as T) ?? fallback;
  } catch {
    return fallback;
  }
}
const save = (key: string, v: unknown) => localStorage.setItem(key, JSON.stringify(v));

type Listener = () => void;
const listeners = new Set<Listener>();
const changed = () => listeners.forEach((l) => l());

export const scans = {
  deviceToken: (): string => localStorage.getItem(DEVICE) ?? "",
  setDeviceToken(token: string) {
    if (token) localStorage.setItem(DEVICE, token.trim());
    else localStorage.removeItem(DEVICE);
    changed();
  },
  pending: (): Queued[] => load<Queued[]>(QUEUE, []),
  verdicts: (sessionId: string): Verdict[] => load<Verdict[]>(results(sessionId), []),
  subscribe(l: Listener) {
    listeners.add(l);
    return () => listeners.delete(l);
  },

  /** Records a code read by the camera; null when this worker was already scanned here. */
  add(sessionId: string, payload: string, fix: { latitude: number; longitude: number; accuracy: number } | null): Verdict | null {
    const worker = codeWorker(payload) ?? payload;
    const shown = scans.verdicts(sessionId);
    if (shown.some((v) => v.worker === worker && v.accepted !== false)) return null;
    // Above any earlier sequence, and above the clock in microseconds, so a reinstalled app
    // (its counter lost) does not reuse numbers the service has already judged.
    const last = BigInt(localStorage.getItem(SEQ) ?? "0");
    const clock = BigInt(Date.now()) * 1000n;
    const seq = (last >= clock ? last + 1n : clock).toString();
    localStorage.setItem(SEQ, seq);
    const q: Queued = { sessionId, seq, payload, at: Date.now(), latitude: fix?.latitude ?? 0, longitude: fix?.longitude ?? 0, accuracy: fix?.accuracy ?? 0 };
    save(QUEUE, [...scans.pending(), q]);
    const v: Verdict = { seq, worker, at: q.at };
    save(results(sessionId), [v, ...shown.filter((x) => x.worker !== worker)].slice(0, 500));
    changed();
    return v;
  },
};

let flushing: Promise<void> | null = null;

/** Uploads what is queued; resolves when done or when the network fails (retried later). */
export function flush(): Promise<void> {
  flushing ??= upload().finally(() => (flushing = null));
  return flushing;
}

async function upload() {
  const token = scans.deviceToken();
  if (!token) return;
  for (;;) {
    const queue = scans.pending();
    if (queue.length === 0) return;
    const sessionId = queue[0].sessionId;
    const batch = queue.filter((q) => q.sessionId === sessionId).slice(0, BATCH);
    let answer;
    try {
      answer = await attendance.uploadScans(
        {
          sessionId,
          scans: batch.map((q) => ({
            deviceSeq: BigInt(q.seq),
            payload: q.payload,
            scannedAt: { seconds: BigInt(Math.floor(q.at / 1000)), nanos: (q.at % 1000) * 1_000_000 },
            latitude: q.latitude,
            longitude: q.longitude,
            accuracyM: q.accuracy,
          })),
        },
        device(token),
      );
    } catch (e) {
      if (isOffline(e)) return;
      // The service refused the whole batch (a closed session, a revoked scanner): keep the
      // scans, show why, and stop until someone acts.
      lastError = e instanceof Error ? e.message : String(e);
      changed();
      return;
    }
    lastError = "";
    const judged = new Map(answer.results.map((r) => [r.deviceSeq.toString(), r]));
    // Never loop on a batch the service answered without verdicts.
    if (!batch.some((q) => judged.has(q.seq))) return;
    const shown = scans.verdicts(sessionId).map((v) => {
      const r = judged.get(v.seq);
      if (!r) return v;
      return {
        ...v,
        accepted: r.accepted,
        reason: r.accepted ? "" : r.detail || String(r.reason),
        name: r.worker?.name,
        employeeId: r.worker?.employeeId,
        unit: r.worker?.unitName,
        agency: r.worker?.agencyName,
        photoRef: r.worker?.photoRef,
      };
    });
    save(results(sessionId), shown);
    save(QUEUE, scans.pending().filter((q) => !judged.has(q.seq)));
    changed();
  }
}

export let lastError = "";

/** Keeps uploading: when the phone comes back online, and every few seconds. */
export function startUploader(): () => void {
  const kick = () => void flush();
  window.addEventListener("online", kick);
  const timer = window.setInterval(kick, 4000);
  kick();
  return () => {
    window.removeEventListener("online", kick);
    clearInterval(timer);
  };
}
