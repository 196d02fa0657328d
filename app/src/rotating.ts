// The phone's rotating QR code (PNT2, see the README's QR format): computed here from the
// secret GetRotatingSecret gave, every step, so it shows offline too.
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";

const DOMAIN = new TextEncoder().encode("pantau-qr-rotating-v1");

export function uuidBytes(id: string): Uint8Array {
  const hex = id.replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${id}`);
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16));
}

export function base64url(b: Uint8Array): string {
  let s = "";
  b.forEach((x) => (s += String.fromCharCode(x)));
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(s: string): Uint8Array {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

export function rotatingCode(secret: Uint8Array, workerId: string, version: number, step: bigint): string {
  const id = uuidBytes(workerId);
  const tail = new Uint8Array(12);
  const view = new DataView(tail.buffer);
  view.setUint32(0, version);
  view.setBigUint64(4, step);
  const msg = new Uint8Array(DOMAIN.length + 16 + 12);
  msg.set(DOMAIN, 0);
  msg.set(id, DOMAIN.length);
  msg.set(tail, DOMAIN.length + 16);
  const tag = hmac(sha256, secret, msg).slice(0, 10);
  const body = new Uint8Array(1 + 16 + 12 + 10);
  body[0] = 0x02;
  body.set(id, 1);
  body.set(tail, 17);
  body.set(tag, 29);
  return `PNT2.${base64url(body)}`;
}

/** The worker a PNT1 or PNT2 code names (hex, no dashes), or null if it is neither. */
export function codeWorker(text: string): string | null {
  try {
    const [prefix, payload] = text.split(".", 2);
    const b = fromBase64url(payload ?? "");
    const at = prefix === "PNT1" && b[0] === 1 ? 9 : prefix === "PNT2" && b[0] === 2 ? 1 : -1;
    if (at < 0 || b.length < at + 16) return null;
    return [...b.slice(at, at + 16)].map((x) => x.toString(16).padStart(2, "0")).join("");
  } catch {
    return null;
  }
}
