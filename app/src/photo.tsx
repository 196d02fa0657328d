// A stored photo, fetched by its hash from the service that stores it and shown from a blob.
import { useEffect, useState } from "preact/hooks";
import { activity, identity } from "./rpc.js";

const cache = new Map<string, Promise<string>>();

function url(from: "activity" | "identity", sha256: string): Promise<string> {
  const key = `${from}:${sha256}`;
  let p = cache.get(key);
  if (!p) {
    const svc = from === "activity" ? activity : identity;
    p = svc.getPhoto({ sha256 }).then((r) => URL.createObjectURL(new Blob([r.content as BlobPart], { type: r.contentType })));
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

export function Photo({ from, sha256, alt, class: cls }: { from: "activity" | "identity"; sha256: string; alt: string; class?: string }) {
  const [src, setSrc] = useState("");
  useEffect(() => {
    if (!/^[0-9a-f]{64}$/i.test(sha256)) return;
    let live = true;
    url(from, sha256)
      .then((u) => live && setSrc(u))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [from, sha256]);
  return src ? <img class={cls} src={src} alt={alt} data-photo={sha256} /> : <span class={`${cls ?? ""} nophoto`} aria-label={alt} />;
}
