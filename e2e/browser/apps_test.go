package browser

import (
	"encoding/json"
	"html/template"
	"io"
	"net/http"

	"golang.org/x/net/websocket"
)

// deviceApp is a device's own plain-HTTP UI, as a TV or NAS has one: a
// page that shows whether the browser treats it as a secure context, a
// JSON API (GET /api/status, PUT /api/volume) and a WebSocket echo (/ws).
func deviceApp(model string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		devicePage.Execute(w, model)
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"model": model, "power": "on", "host": r.Host})
	})
	mux.HandleFunc("PUT /api/volume", func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			Level int `json:"level"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]any{"model": model, "volume": v.Level})
	})
	mux.Handle("GET /ws", websocket.Server{Handler: func(c *websocket.Conn) { io.Copy(c, c) }})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

var devicePage = template.Must(template.New("device").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em; color: #222 }
h1 { font-weight: 600 } dt { font-weight: 600; margin-top: .8em } dd { margin: .2em 0 0 0; font-family: ui-monospace, monospace }
.yes { color: #070 } .no { color: #b00 }
</style></head>
<body>
<h1>{{.}}</h1>
<p>This page comes from the device itself, over HTTPS with the certificate its lantls agent got from the owner's issuer.</p>
<dl>
<dt>Address</dt><dd id="origin"></dd>
<dt>Secure context</dt><dd id="secure"></dd>
<dt>Web Crypto (crypto.subtle)</dt><dd id="subtle"></dd>
<dt>Status API</dt><dd id="status">…</dd>
</dl>
<script>
function show(id, ok, text) { const e = document.getElementById(id); e.textContent = text; e.className = ok ? "yes" : "no"; }
document.getElementById("origin").textContent = location.origin;
show("secure", window.isSecureContext, window.isSecureContext ? "yes" : "no");
show("subtle", !!window.crypto.subtle, window.crypto.subtle ? "available" : "missing");
fetch("/api/status").then(r => r.json()).then(s => show("status", true, "power " + s.power))
  .catch(e => show("status", false, String(e)));
</script>
</body></html>
`))

// webApp is a web app on another HTTPS origin, as a vendor's or a home
// dashboard's would be, that calls devices on the LAN from the browser.
// Its functions are what the tests evaluate: call(url, init) fetches and
// resolves to {status, body} or {error}; echo(url, message) opens a
// WebSocket, sends message and resolves to {echo} or {error, code}.
func webApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, webAppPage)
	})
	return mux
}

const webAppPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Home dashboard</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 48em; margin: 2em auto; padding: 0 1em; color: #222 }
h1 { font-weight: 600 } pre { background: #f4f4f4; padding: 1em; white-space: pre-wrap; word-break: break-all }
</style></head>
<body>
<h1>Home dashboard</h1>
<p>A web app on its own HTTPS origin that talks to devices on the local network from the browser.</p>
<pre id="log"></pre>
<script>
function log(line) { document.getElementById("log").textContent += line + "\n"; }
async function call(url, init) {
  try {
    const r = await fetch(url, init);
    const body = await r.text();
    log((init && init.method || "GET") + " " + url + " -> " + r.status + " " + body.trim());
    return {status: r.status, body: body};
  } catch (e) {
    log((init && init.method || "GET") + " " + url + " -> " + e);
    return {error: String(e)};
  }
}
function echo(url, message) {
  return new Promise(resolve => {
    let ws;
    try { ws = new WebSocket(url); } catch (e) { log("WebSocket " + url + " -> " + e); resolve({error: String(e)}); return; }
    let failed = false;
    ws.onopen = () => ws.send(message);
    ws.onmessage = m => { log("WebSocket " + url + " echoed " + m.data); ws.close(); resolve({echo: m.data}); };
    ws.onerror = () => { failed = true; };
    ws.onclose = c => { if (failed) { log("WebSocket " + url + " -> error, close code " + c.code); resolve({error: "error", code: c.code}); } };
  });
}
</script>
</body></html>
`
