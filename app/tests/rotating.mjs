// The phone's QR code arithmetic (src/rotating.ts) run outside the browser, for the Rust test
// `field_app::the_apps_rotating_codes_are_the_qr_crates` to compare with `crates/qr`: compiles
// that one module with the app's own tsc into node_modules/.kat/, then answers each case in
// PANTAU_ROTATING_CASES (JSON: [{secret: hex, worker: uuid, version, step, scanned}]) with
// {code: rotatingCode(...), worker: codeWorker(scanned)} as JSON on stdout.
import { execFileSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const app = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(app, "node_modules", ".kat");
// The module alone, outside tsconfig.json (which is for the whole browser app).
execFileSync(
  join(app, "node_modules", ".bin", "tsc"),
  ["--ignoreConfig", "--outDir", out, "--rootDir", "src", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler", "--strict", "--skipLibCheck", "--types", "", "src/rotating.ts"],
  { cwd: app, stdio: ["ignore", "inherit", "inherit"] },
);
const { rotatingCode, codeWorker } = await import(pathToFileURL(join(out, "rotating.js")).href);

const cases = JSON.parse(process.env.PANTAU_ROTATING_CASES ?? "[]");
const answers = cases.map((c) => ({
  code: rotatingCode(Uint8Array.from(Buffer.from(c.secret, "hex")), c.worker, c.version, BigInt(c.step)),
  worker: codeWorker(c.scanned),
}));
process.stdout.write(JSON.stringify(answers));
