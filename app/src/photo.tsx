// A stored photo, fetched by its hash from the service that stores it and shown from a blob.
import { useEffect, useState } from "preact/hooks";
import { activity, device, identity } from "./rpc.js";

const cache = new Map<string, Promise<string>>();

function url(from: "activity" | "identity", sha256: string, deviceToken?: string): Promise<string> {
  const key = `${from}:${sha256}`;
  let p = cache.get(key);
  if (!p) {
    const svc = from === "activity" ? activity : identity;
    p = svc.getPhoto({ sha256 }, deviceToken ? device(deviceToken) : undefined).then((r) => URL.createObjectURL(new Blob([r.content as BlobPart], { type: r.contentType })));
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

/** `deviceToken`: the scanner phone's, which reads portraits without anyone signed in. */
export function Photo({ from, sha256, alt, class: cls, deviceToken }: { from: "activity" | "identity"; sha256: string; alt: string; class?: string; deviceToken?: string }) {
  const [src, setSrc] = useState("");
  // Bumped when the phone comes back online, so a photo that failed offline is fetched again.
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (!/^[0-9a-f]{64}$/i.test(sha256)) return;
    let live = true;
    const retry = () => setAttempt((n) => n + 1);
    url(from, sha256, deviceToken)
      .then((u) => live && setSrc(u))
      .catch(() => live && window.addEventListener("online", retry, { once: true }));
    return () => {
      live = false;
      window.removeEventListener("online", retry);
    };
  }, [from, sha256, deviceToken, attempt]);
  return src ? <img class={cls} src={src} alt={alt} data-photo={sha256} /> : <span class={`${cls ?? ""} nophoto`} aria-label={alt} />;
}
