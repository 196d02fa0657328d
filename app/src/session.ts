// Who is signed in: the identity token and what its claims say (the services verify it on
// every call; the app only reads it to pick screens). Kept in localStorage so the app opens
// signed in, until the token expires.
import { useEffect, useState } from "preact/hooks";

export interface Session {
  token: string;
  loginId: string;
  /** Role names from the token: worker, supervisor, agency_admin, province_admin, scanner... */
  roles: string[];
  agencyId: string;
  workerId: string;
  expiresAt: number;
}

const KEY = "pantau.session";
type Listener = () => void;
const listeners = new Set<Listener>();

function read(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? "null") as Session | null;
    return s && s.expiresAt * 1000 > Date.now() ? s : null;
  } catch {
    return null;
  }
}

function claims(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

export const session = {
  get: read,
  start(token: string, loginId: string, expiresAt: number) {
    const c = claims(token);
    const s: Session = {
      token,
      loginId,
      roles: Array.isArray(c.roles) ? (c.roles as string[]) : [],
      agencyId: typeof c.agency === "string" ? c.agency : "",
      workerId: typeof c.worker === "string" ? c.worker : "",
      expiresAt,
    };
    localStorage.setItem(KEY, JSON.stringify(s));
    listeners.forEach((l) => l());
  },
  expire() {
    localStorage.removeItem(KEY);
    listeners.forEach((l) => l());
  },
  subscribe(l: Listener) {
    listeners.add(l);
    return () => listeners.delete(l);
  },
};

export function useSession(): Session | null {
  const [s, set] = useState(read);
  useEffect(() => session.subscribe(() => set(read())), []);
  return s;
}
