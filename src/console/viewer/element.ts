/**
 * `<sealtrail-viewer>`: the web component a tenant's page loads from Sealtrail
 * (`<script src="https://<sealtrail>/sealtrail-viewer.js"></script>`) to embed the viewer
 * (viewer.ts) in an iframe. Attributes: `tenant`, `token` (a viewer token minted by the
 * tenant's backend; set it again to refresh it), `verifier-key` (optional: the log's key to
 * pin instead of trusting the one the server publishes), `height`. The host's `--sealtrail-*`
 * CSS variables, as computed on the element, are sent to the viewer with the token by
 * postMessage, addressed to Sealtrail's origin only; the token never goes into a URL.
 */
const VARIABLES = ["bg", "fg", "muted", "accent", "border", "ok", "bad", "font", "radius"].map((n) => `--sealtrail-${n}`);

const script = document.currentScript as HTMLScriptElement | null;
const base = new URL(script?.src ?? location.href).origin;

class SealtrailViewer extends HTMLElement {
  static observedAttributes = ["token", "verifier-key"];
  #frame: HTMLIFrameElement | null = null;
  #ready = false;

  connectedCallback() {
    if (this.#frame) return;
    const frame = document.createElement("iframe");
    frame.src = `${base}/embed/viewer/${encodeURIComponent(this.getAttribute("tenant") ?? "")}`;
    frame.title = this.getAttribute("title") ?? "Audit log";
    frame.referrerPolicy = "no-referrer";
    frame.style.setProperty("width", "100%");
    frame.style.setProperty("height", this.getAttribute("height") ?? "480px");
    frame.style.setProperty("border", "0");
    this.#frame = frame;
    window.addEventListener("message", this.#onMessage);
    (this.shadowRoot ?? this.attachShadow({ mode: "open" })).append(frame);
  }

  disconnectedCallback() {
    window.removeEventListener("message", this.#onMessage);
  }

  attributeChangedCallback() {
    if (this.#ready) this.#send();
  }

  #onMessage = (ev: MessageEvent) => {
    if (ev.origin !== base || ev.source !== this.#frame?.contentWindow) return;
    if ((ev.data as { type?: unknown } | null)?.type !== "sealtrail-viewer:ready") return;
    this.#ready = true;
    this.#send();
  };

  #send() {
    const computed = getComputedStyle(this);
    const styles: Record<string, string> = {};
    for (const v of VARIABLES) {
      const value = computed.getPropertyValue(v).trim();
      if (value) styles[v] = value;
    }
    const message = {
      type: "sealtrail-viewer:init",
      token: this.getAttribute("token"),
      verifierKey: this.getAttribute("verifier-key"),
      styles,
    };
    // Addressed to Sealtrail's origin: if the frame were navigated elsewhere, the token is not delivered.
    this.#frame?.contentWindow?.postMessage(message, base);
  }
}

if (!customElements.get("sealtrail-viewer")) customElements.define("sealtrail-viewer", SealtrailViewer);
