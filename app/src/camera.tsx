// The phone's back camera in a <video>: the scanner reads every few frames, the activity form
// takes one picture. Stops the camera when the component goes away.
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "./i18n.js";

interface Props {
  /** Called with each sampled frame (about 6 a second) while `active`. */
  onFrame?: (frame: ImageData) => void;
  active?: boolean;
  label?: string;
  /** The <video>, for taking a picture of the current frame. */
  videoRef?: { current: HTMLVideoElement | null };
}

export function Camera({ onFrame, active = true, label, videoRef }: Props) {
  const own = useRef<HTMLVideoElement>(null);
  const video = videoRef ?? own;
  const [error, setError] = useState("");
  const frame = useRef(onFrame);
  frame.current = onFrame;

  useEffect(() => {
    if (!active) return;
    let stream: MediaStream | null = null;
    let timer = 0;
    let stopped = false;
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    (async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
          audio: false,
        });
        if (stopped || !video.current) return;
        video.current.srcObject = stream;
        await video.current.play().catch(() => undefined);
        setError("");
        const tick = () => {
          const v = video.current;
          if (stopped || !v) return;
          if (v.videoWidth && ctx && frame.current) {
            // Downscale: a QR code is found as well at 640 px and decoding is 4x cheaper.
            const scale = Math.min(1, 640 / v.videoWidth);
            canvas.width = Math.round(v.videoWidth * scale);
            canvas.height = Math.round(v.videoHeight * scale);
            ctx.drawImage(v, 0, 0, canvas.width, canvas.height);
            frame.current(ctx.getImageData(0, 0, canvas.width, canvas.height));
          }
          timer = window.setTimeout(tick, 160);
        };
        tick();
      } catch (e) {
        setError(`${t("camera.unavailable")}: ${(e as Error).message}`);
      }
    })();
    return () => {
      stopped = true;
      clearTimeout(timer);
      stream?.getTracks().forEach((tr) => tr.stop());
    };
  }, [active]);

  return (
    <div class="camera">
      <video ref={video} muted playsInline aria-label={label ?? t("camera.label")} />
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}

/** One picture from the camera's current frame as a JPEG, at most 1280 px wide. */
export async function snapshot(v: HTMLVideoElement): Promise<Blob> {
  const scale = Math.min(1, 1280 / (v.videoWidth || 1280));
  const c = document.createElement("canvas");
  c.width = Math.round((v.videoWidth || 640) * scale);
  c.height = Math.round((v.videoHeight || 480) * scale);
  c.getContext("2d")?.drawImage(v, 0, 0, c.width, c.height);
  return toJpeg(c);
}

/** A picture file (from the camera app or the gallery) as a JPEG of at most 1280 px. */
export async function shrink(file: Blob): Promise<Blob> {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 1280 / Math.max(bitmap.width, bitmap.height));
  const c = document.createElement("canvas");
  c.width = Math.round(bitmap.width * scale);
  c.height = Math.round(bitmap.height * scale);
  c.getContext("2d")?.drawImage(bitmap, 0, 0, c.width, c.height);
  return toJpeg(c);
}

function toJpeg(c: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) =>
    c.toBlob((b) => (b ? resolve(b) : reject(new Error("could not encode the picture"))), "image/jpeg", 0.82),
  );
}
