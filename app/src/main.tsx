// Pantau's field app: one installable web app for the worker (check in, QR code, activity
// reports, the month's score), the supervisor (review queue, the unit's day on a map,
// behaviour ratings) and the ceremony scanner officer (camera scanning that keeps working
// offline). Indonesian by default, English on a tap; laid out for a 360 px phone.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import { identity, explain } from "./rpc.js";
import { session, useSession, type Session } from "./session.js";
import { Lang, setLang, t, useLang } from "./i18n.js";
import { WorkerScreen } from "./worker.js";
import { SupervisorScreen } from "./supervisor.js";
import { ScannerScreen } from "./scanner.js";
import { scans } from "./scanqueue.js";
import "./style.css";

type Tab = "worker" | "supervisor" | "scanner";

function tabsFor(s: Session | null): Tab[] {
  const tabs: Tab[] = [];
  if (!s) return scans.deviceToken() ? ["scanner"] : [];
  if (s.workerId) tabs.push("worker");
  if (s.roles.some((r) => r === "supervisor" || r === "agency_admin")) tabs.push("supervisor");
  if (s.roles.includes("scanner") || scans.deviceToken()) tabs.push("scanner");
  return tabs;
}

function App() {
  const lang = useLang();
  const s = useSession();
  const [online, setOnline] = useState(navigator.onLine);
  const tabs = tabsFor(s);
  const [tab, setTab] = useState<Tab | null>(() => (localStorage.getItem("pantau.tab") as Tab) || null);
  const current = tab && tabs.includes(tab) ? tab : tabs[0];
  const [scannerSetup, setScannerSetup] = useState(false);

  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener("online", on);
    window.addEventListener("offline", off);
    return () => {
      window.removeEventListener("online", on);
      window.removeEventListener("offline", off);
    };
  }, []);

  const pick = (x: Tab) => {
    localStorage.setItem("pantau.tab", x);
    setTab(x);
  };

  return (
    <div class="shell" lang={lang}>
      <header class="bar">
        <strong class="brand">Pantau</strong>
        <span class={online ? "net on" : "net off"} data-testid="network">
          {online ? t("net.online") : t("net.offline")}
        </span>
        <button class="link" data-testid="lang" onClick={() => setLang(lang === "id" ? "en" : "id")}>
          {lang === "id" ? "English" : "Bahasa Indonesia"}
        </button>
        {s && (
          <button class="link" data-testid="logout" onClick={() => session.expire()}>
            {t("logout")}
          </button>
        )}
      </header>
      {tabs.length > 1 && (
        <nav class="tabs" role="tablist">
          {tabs.map((x) => (
            <button role="tab" aria-selected={x === current} data-testid={`tab-${x}`} onClick={() => pick(x)}>
              {t(`tab.${x}`)}
            </button>
          ))}
        </nav>
      )}
      <main>
        {!s && !scannerSetup && !current && <Login onScanner={() => setScannerSetup(true)} />}
        {!s && scannerSetup && !current && <ScannerScreen onDone={() => setScannerSetup(false)} />}
        {current === "worker" && s && <WorkerScreen s={s} />}
        {current === "supervisor" && s && <SupervisorScreen s={s} />}
        {current === "scanner" && <ScannerScreen />}
      </main>
    </div>
  );
}

function Login({ onScanner }: { onScanner: () => void }) {
  const [loginId, setLoginId] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const r = await identity.login({ loginId: loginId.trim(), password });
      session.start(r.accessToken, loginId.trim(), Number(r.expiresAtUnix));
    } catch (err) {
      const c = err instanceof ConnectError ? err.code : null;
      setError(c === Code.Unauthenticated || c === Code.NotFound ? t("login.wrong") : explain(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card login" onSubmit={submit} data-testid="login">
      <h1>{t("login.title")}</h1>
      <p class="muted">{t("login.hint")}</p>
      <label>
        {t("login.id")}
        <input name="login_id" autocomplete="username" inputMode="text" required value={loginId} onInput={(e) => setLoginId(e.currentTarget.value)} />
      </label>
      <label>
        {t("login.password")}
        <input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      {error && <p class="error" role="alert">{error}</p>}
      <button class="primary" type="submit" disabled={busy}>
        {busy ? t("busy") : t("login.submit")}
      </button>
      <button class="secondary" type="button" data-testid="scanner-setup" onClick={onScanner}>
        {t("login.scanner")}
      </button>
    </form>
  );
}

export type { Lang };

render(<App />, document.getElementById("app")!);

if ("serviceWorker" in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`, { scope: import.meta.env.BASE_URL }).catch(() => undefined);
}
