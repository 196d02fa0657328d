// The ceremony scanner: the officer's phone, set up once with its device token, picks the open
// session, reads QR codes from the camera and shows each verdict with the worker's name, unit
// and photo to compare with the face in front of it. Scans are queued on the phone first and
// uploaded when the network allows; the count of unsent scans is always on screen.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import jsQR from "jsqr";
import { attendance, device, explain } from "./rpc.js";
import { Camera } from "./camera.js";
import { Photo } from "./photo.js";
import { flush, lastError, scans, startUploader, type Verdict } from "./scanqueue.js";
import { codeWorker } from "./rotating.js";
import { t } from "./i18n.js";
import type { ScannerSession } from "./gen/pantau/attendance/v1/attendance_pb.js";

const SESSION = "pantau.scanner.session";

function useScans() {
  const [, bump] = useState(0);
  useEffect(() => scans.subscribe(() => bump((x) => x + 1)), []);
}

export function ScannerScreen({ onDone }: { onDone?: () => void }) {
  useScans();
  const token = scans.deviceToken();
  const [session, setSession] = useState<{ id: string; title: string } | null>(() => JSON.parse(localStorage.getItem(SESSION) ?? "null"));
  useEffect(() => startUploader(), []);
  if (!token) return <Setup onCancel={onDone} />;
  if (!session)
    return (
      <Sessions
        token={token}
        onPick={(s) => {
          localStorage.setItem(SESSION, JSON.stringify(s));
          setSession(s);
        }}
      />
    );
  return (
    <Scanning
      session={session}
      onLeave={() => {
        localStorage.removeItem(SESSION);
        setSession(null);
      }}
    />
  );
}

function Setup({ onCancel }: { onCancel?: () => void }) {
  const [value, setValue] = useState(() => new URLSearchParams(location.search).get("device") ?? "");
  const [error, setError] = useState("");
  const save = async (e: Event) => {
    e.preventDefault();
    const token = value.trim();
    if (!/^pantau-device\.[^.]+\.[A-Za-z0-9_-]+$/.test(token)) {
      setError(t("scanner.badToken"));
      return;
    }
    try {
      await attendance.listScannerSessions({}, device(token));
      scans.setDeviceToken(token);
    } catch (err) {
      setError(explain(err));
    }
  };
  return (
    <form class="card" onSubmit={save} data-testid="scanner-setup-form">
      <h1>{t("scanner.setup")}</h1>
      <p class="muted">{t("scanner.setupHint")}</p>
      <label>
        {t("scanner.token")}
        <input name="device_token" autocomplete="off" required value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      </label>
      {error && <p class="error" role="alert">{error}</p>}
      <button class="primary big" type="submit">
        {t("save")}
      </button>
      {onCancel && (
        <button class="link" type="button" onClick={onCancel}>
          {t("cancel")}
        </button>
      )}
    </form>
  );
}

function Sessions({ token, onPick }: { token: string; onPick: (s: { id: string; title: string }) => void }) {
  const [list, setList] = useState<ScannerSession[] | null>(null);
  const [error, setError] = useState("");
  const load = useCallback(() => {
    attendance
      .listScannerSessions({}, device(token))
      .then((r) => {
        setList(r.sessions);
        setError("");
      })
      .catch((e) => setError(explain(e)));
  }, [token]);
  useEffect(load, [load]);
  return (
    <section class="card" data-testid="sessions">
      <div class="row spread">
        <h1>{t("scanner.pick")}</h1>
        <button class="link" onClick={load}>
          {t("refresh")}
        </button>
      </div>
      {error && <p class="error">{error}</p>}
      {list?.length === 0 && <p class="muted">{t("scanner.none")}</p>}
      <ul class="list">
        {list?.map((s) => (
          <li>
            <button class="session" data-session={s.sessionId} onClick={() => onPick({ id: s.sessionId, title: s.title })}>
              <strong>{s.title}</strong>
              <small>
                {s.place} · {s.startsAt.replace("T", " ")}–{s.endsAt.slice(11)} · {t("scanner.invited", { n: s.invited })}
              </small>
            </button>
          </li>
        ))}
      </ul>
      <button class="link" onClick={() => scans.setDeviceToken("")}>
        {t("scanner.forget")}
      </button>
    </section>
  );
}

function Scanning({ session, onLeave }: { session: { id: string; title: string }; onLeave: () => void }) {
  const [scanning, setScanning] = useState(false);
  const [last, setLast] = useState<string>("");
  const [again, setAgain] = useState(false);
  const fix = useRef<{ latitude: number; longitude: number; accuracy: number } | null>(null);
  // The service judges each scan by where the scanner stood: no codes are read before the
  // phone knows its position (a scan without one would be refused as outside the place).
  const [located, setLocated] = useState(false);
  const [geoError, setGeoError] = useState("");
  const seen = useRef<{ text: string; at: number }>({ text: "", at: 0 });
  const verdicts = scans.verdicts(session.id);
  const unsent = scans.pending().length;

  useEffect(() => {
    if (!scanning || !("geolocation" in navigator)) return;
    const id = navigator.geolocation.watchPosition(
      (p) => {
        fix.current = { latitude: p.coords.latitude, longitude: p.coords.longitude, accuracy: Math.max(1, p.coords.accuracy || 1) };
        setLocated(true);
        setGeoError("");
      },
      (e) => setGeoError(`${t("geo.unavailable")}: ${e.message}`),
      { enableHighAccuracy: true, maximumAge: 30_000 },
    );
    return () => navigator.geolocation.clearWatch(id);
  }, [scanning]);

  const onFrame = (frame: ImageData) => {
    if (!fix.current) return;
    const code = jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" });
    const text = code?.data ?? "";
    if (!text.startsWith("PNT")) return;
    const now = Date.now();
    // The same code held in front of the camera is one scan.
    if (text === seen.current.text && now - seen.current.at < 5000) return;
    seen.current = { text, at: now };
    const v = scans.add(session.id, text, fix.current);
    navigator.vibrate?.(v ? 80 : [40, 40, 40]);
    // Scanned before: show that worker's verdict again, with a note.
    const worker = codeWorker(text) ?? text;
    setLast(v ? v.seq : (scans.verdicts(session.id).find((x) => x.worker === worker)?.seq ?? ""));
    setAgain(!v);
    void flush();
  };

  const current = verdicts.find((v) => v.seq === last);
  return (
    <div class="screen" data-testid="scanning">
      <div class="row spread">
        <h1>{session.title}</h1>
        <button class="link" onClick={onLeave}>
          {t("scanner.change")}
        </button>
      </div>
      <p class={unsent ? "unsent some" : "unsent"} data-testid="unsent" data-count={unsent}>
        {t("scanner.unsent", { n: unsent })}
      </p>
      {lastError && <p class="error">{lastError}</p>}
      {scanning ? (
        <>
          {!located && <p class="muted" data-testid="locating">{t("geo.finding")}</p>}
          {geoError && <p class="error" role="alert">{geoError}</p>}
          <Camera onFrame={onFrame} label={t("scanner.camera")} />
          <button class="secondary big" data-testid="stop-scan" onClick={() => setScanning(false)}>
            {t("scanner.stop")}
          </button>
        </>
      ) : (
        <button class="primary big" data-testid="start-scan" onClick={() => setScanning(true)}>
          {t("scanner.start")}
        </button>
      )}
      {again && <p class="verdict" data-testid="already">{t("scanner.already")}</p>}
      {current && <Card v={current} big />}
      <h2>{t("scanner.recent", { n: verdicts.filter((v) => v.accepted).length })}</h2>
      <ul class="list" data-testid="verdicts">
        {verdicts.map((v) => (
          <li>
            <Card v={v} />
          </li>
        ))}
      </ul>
    </div>
  );
}

function Card({ v, big }: { v: Verdict; big?: boolean }) {
  const state = v.accepted === undefined ? "queued" : v.accepted ? "accepted" : "rejected";
  return (
    <div class={`scan ${state} ${big ? "big" : ""}`} data-testid={big ? "scan-result" : "scan-row"} data-state={state} data-seq={v.seq}>
      {v.photoRef ? <Photo from="identity" sha256={v.photoRef} alt={v.name ?? ""} class="face" deviceToken={scans.deviceToken()} /> : <span class="face nophoto" />}
      <div>
        <strong>{state === "queued" ? t("scanner.queued") : state === "accepted" ? t("scanner.accepted") : t("scanner.rejected")}</strong>
        {v.name && (
          <>
            <br />
            <span data-testid="scan-name">{v.name}</span> <small class="muted">{v.employeeId}</small>
            <br />
            <small>
              {v.unit} · {v.agency}
            </small>
          </>
        )}
        {v.reason && (
          <>
            <br />
            <small>{v.reason}</small>
          </>
        )}
        <br />
        <small class="muted">{new Date(v.at).toLocaleTimeString()}</small>
      </div>
    </div>
  );
}
