import { build, startServer } from "./bench/harness.mjs";
build();
const s = await startServer({}, { inspectorPort: 9331 });
const r = await fetch("http://127.0.0.1:9331/json/list");
console.log(JSON.stringify((await r.json()).map((t) => [t.title, t.webSocketDebuggerUrl])));
await s.stop();
