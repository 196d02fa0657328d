// The services, reached over gRPC-Web through the reporting service's gateway at /app/rpc
// (one origin for the phone: no CORS, one URL to open). Each call carries the signed-in
// person's token unless it sets its own `authorization` (the scanner's device token).
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { IdentityService } from "./gen/pantau/identity/v1/identity_pb.js";
import { AttendanceService } from "./gen/pantau/attendance/v1/attendance_pb.js";
import { ActivityService } from "./gen/pantau/activity/v1/activity_pb.js";
import { ScoringService } from "./gen/pantau/scoring/v1/scoring_pb.js";
import { session } from "./session.js";
import { t } from "./i18n.js";

const withToken: Interceptor = (next) => async (req) => {
  const token = session.get()?.token;
  if (token && !req.header.has("authorization")) req.header.set("authorization", `Bearer ${token}`);
  try {
    return await next(req);
  } catch (e) {
    // An expired or revoked token: back to the login screen, keeping what is queued.
    if (e instanceof ConnectError && e.code === Code.Unauthenticated && !req.header.get("authorization")?.includes("pantau-device.")) {
      session.expire();
    }
    throw e;
  }
};

const transport = createGrpcWebTransport({
  baseUrl: `${import.meta.env.BASE_URL}rpc`,
  interceptors: [withToken],
  defaultTimeoutMs: 30_000,
});

function client<T extends DescService>(service: T): Client<T> {
  return createClient(service, transport);
}

export const identity = client(IdentityService);
export const attendance = client(AttendanceService);
export const activity = client(ActivityService);
export const scoring = client(ScoringService);

/** The device token header for the scanner's own calls. */
export function device(token: string) {
  return { headers: { authorization: `Bearer ${token}` } };
}

/** Whether an error means the network (not the server) failed: worth retrying later. */
export function isOffline(e: unknown): boolean {
  if (!navigator.onLine) return true;
  const err = ConnectError.from(e);
  return (
    err.code === Code.Unavailable ||
    err.code === Code.DeadlineExceeded ||
    (err.code === Code.Unknown && /fetch|network/i.test(err.rawMessage))
  );
}

/** A message for the person holding the phone. */
export function explain(e: unknown): string {
  if (isOffline(e)) return t("error.offline");
  const err = ConnectError.from(e);
  switch (err.code) {
    case Code.Unauthenticated:
      return t("error.unauthenticated");
    case Code.PermissionDenied:
      return `${t("error.permission")}: ${err.rawMessage}`;
    default:
      return err.rawMessage || String(e);
  }
}

export function requestId(): string {
  return crypto.randomUUID ? crypto.randomUUID() : fallbackUuid();
}

function fallbackUuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
