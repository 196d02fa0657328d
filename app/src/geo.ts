// The phone's position, fresh (no cached fix: a check-in must be where the worker stands).
export interface Fix {
  latitude: number;
  longitude: number;
  accuracy: number;
}

export function position(timeoutMs = 20_000): Promise<Fix> {
  return new Promise((resolve, reject) => {
    if (!("geolocation" in navigator)) {
      reject(new Error("geolocation unavailable"));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) =>
        resolve({
          latitude: p.coords.latitude,
          longitude: p.coords.longitude,
          // Some browsers report 0 for an emulated or very good fix; the service wants > 0.
          accuracy: Math.max(1, Math.round(p.coords.accuracy || 1)),
        }),
      (e) => reject(new Error(e.message || "position unavailable")),
      { enableHighAccuracy: true, maximumAge: 0, timeout: timeoutMs },
    );
  });
}
