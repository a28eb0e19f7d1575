// The restock operator app: log in, see the handoff queue and the cameras, claim the robot,
// drive it from the desktop (keyboard) or a WebXR headset (xr.js), resolve, hand back.
// Plain ES modules, no dependencies. Protocol: restock/teleop/protocol.py.
import { startRtc } from "./rtc.js";
import { startXR, xrSupported } from "./xr.js";

const $ = (id) => document.getElementById(id);

export const app = {
  token: null,
  operator: null,
  ws: null,
  state: null,
  alerts: [], // back-room alerts now raised, most urgent first (the bridge sorts them)
  xrTake: null, // in the immersive session: takes each decoded frame (xr.js draws the newest in its next frame)
  framesShown: 0,
  framesDropped: 0,
  streamPath: null, // "frames" (JPEG on a socket) or "webrtc" (a video track)
  rtcMeta: [], // the bridge's stage stamps of WebRTC frames, by RTP time ({rtp, capture, received, encoded, sent})
  // The last frames drawn, each {capture, received, encoded, sent, arrived, decoded, drawn, view} in
  // epoch seconds: the stages of bench/teleop_latency.py's figures.
  frameLog: [],
  holding: false, // this tab holds the robot's lease
  desk: { pos: [0, 1.2, -0.4], yaw: 0, keys: new Set(), mouse: false },
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  },
};
window.restockApp = app; // for the browser test and the console

async function api(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (app.token) headers.Authorization = `Bearer ${app.token}`;
  const res = await fetch(path, { method: body === undefined ? "GET" : "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `${path}: HTTP ${res.status}`);
  return data;
}

function say(text) {
  $("message").textContent = text || "";
}

async function login(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const res = await api("/api/login", { operator: $("operator").value, password: $("password").value });
    app.token = res.token;
    app.operator = res.operator;
    $("password").value = "";
    $("login-form").hidden = true;
    $("console").hidden = false;
    $("logout").hidden = false;
    $("estop").disabled = false;
    $("who").textContent = res.operator;
    await connect();
  } catch (err) {
    $("login-error").textContent = err.message;
  }
}

async function logout() {
  try {
    await api("/api/logout", {});
  } catch (err) {
    /* the token is gone either way */
  }
  app.token = null;
  location.reload();
}

// A WebSocket URL with a fresh one-time ticket (the page's socket and the camera stream's alike).
async function socketUrl() {
  const { ticket } = await api("/api/ticket", {});
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws?ticket=${encodeURIComponent(ticket)}`;
}

async function connect() {
  const ws = new WebSocket(await socketUrl());
  app.ws = ws;
  ws.onopen = () => say("");
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") onJson(JSON.parse(ev.data));
  };
  ws.onclose = (ev) => {
    app.holding = false;
    if (!app.token) return;
    say(`connection closed (${ev.code} ${ev.reason || ""})`);
    if (ev.code === 4401) {
      app.token = null;
      setTimeout(() => location.reload(), 1500);
    } else {
      setTimeout(() => connect().catch((err) => say(err.message)), 1000);
    }
  };
}

function onJson(msg) {
  if (msg.type === "state") render(msg);
  else if (msg.type === "alerts") renderAlerts(msg.alerts);
  else if (msg.type === "error") say(msg.error);
  else if (msg.type === "ack") say(msg.sample ? `saved training sample ${msg.sample}` : `${msg.of} done`);
  else if (msg.type === "rtc_answer" && app.rtcAnswer) app.rtcAnswer(msg.sdp);
  else if (msg.type === "rtc_frame") {
    app.rtcMeta.push(msg);
    if (app.rtcMeta.length > 2000) app.rtcMeta.shift();
  }
}

let fpsCount = 0;
let fpsSince = performance.now();
const epochNow = () => (performance.timeOrigin + performance.now()) / 1000;
// The camera stream has a socket and a JPEG decoder of its own in a worker (frames.js): the page
// gets decoded frames, the newest only, and draws each once (the XR frame loop: in its next frame).
const stream = new Worker("/app/frames.js", { type: "module" });

// The stream's path: ?stream=webrtc or ?stream=frames in the address; otherwise STREAM_PATH.
// JPEG frames won on capture -> drawn p99 at equal image quality in bench/teleop_latency.py (loopback,
// 2 cores: the VP8 encode, the jitter buffer and the hidden <video> cost more than JPEG's bytes);
// WebRTC sends ~7x fewer bytes for that quality, the better choice on a thin link. WebRTC that
// fails (no answer, no frame) falls back to frames.
const STREAM_PATH = "frames";

async function openStream() {
  const camera = $("camera").value;
  const path = new URLSearchParams(location.search).get("stream") || STREAM_PATH;
  if (path === "webrtc" && window.RTCPeerConnection) {
    try {
      if (app.rtc) app.rtc.pc.close();
      const rtc = await startRtc(app, camera, $("view-video"), onRtcFrame);
      app.rtc = rtc;
      app.streamPath = "webrtc";
      $("view-box").classList.add("rtc");
      rtc.pc.onconnectionstatechange = () => {
        if (rtc.pc.connectionState !== "failed" || app.rtc !== rtc || !app.token) return;
        say("WebRTC failed; JPEG frames instead");
        rtc.pc.close();
        app.rtc = null;
        $("view-box").classList.remove("rtc");
        openFrames(camera).catch((err) => say(err.message));
      };
      return;
    } catch (err) {
      say(`WebRTC: ${err.message}; JPEG frames instead`);
    }
  }
  await openFrames(camera);
}

async function openFrames(camera) {
  app.streamPath = "frames";
  stream.postMessage({ type: "open", url: await socketUrl(), camera });
}

// A WebRTC frame: on the desktop the <video> under the canvas shows it (drawn: when the browser
// handed it to the compositor, as a canvas draw does); in XR it is uploaded in the next XR frame.
function onRtcFrame(video, meta) {
  const epoch = (t) => (performance.timeOrigin + t) / 1000;
  const f = { rtp: meta.rtpTimestamp, arrived: epoch(meta.receiveTime), decoded: epoch(meta.presentationTime), path: "webrtc" };
  if (app.xrTake) app.xrTake(f, video);
  else frameDrawn(f, "desktop", f.decoded);
}

function watchCamera(camera) {
  if (app.streamPath === "webrtc") openStream().catch((err) => say(err.message));
  else stream.postMessage({ type: "watch", camera });
}

stream.onmessage = (ev) => {
  const m = ev.data;
  if (m.type === "dropped") app.framesDropped += 1;
  else if (m.type === "closed" && app.token && m.code !== 4401) setTimeout(() => openFrames($("camera").value).catch((err) => say(err.message)), 1000);
  if (m.type !== "frame") return;
  if (app.xrTake) {
    app.xrTake(m.frame, m.bitmap); // drawn in the next XR frame (xr.js calls frameDrawn)
    return;
  }
  // The decoded bitmap becomes the canvas's picture as it is (no copy, no draw; CSS scales it).
  m.frame.taken = epochNow();
  $("view").getContext("bitmaprenderer", { alpha: false }).transferFromImageBitmap(m.bitmap);
  frameDrawn(m.frame, "desktop");
};

export function frameDrawn(f, view, drawn = epochNow()) {
  f.drawn = drawn;
  f.view = view;
  app.framesShown += 1;
  fpsCount += 1;
  const now = performance.now();
  if (now - fpsSince > 1000) {
    $("fps").textContent = `${((fpsCount * 1000) / (now - fpsSince)).toFixed(0)} fps`;
    fpsCount = 0;
    fpsSince = now;
  }
  app.frameLog.push(f);
  if (app.frameLog.length > 2000) app.frameLog.shift();
}

function render(state) {
  const first = app.state === null;
  app.state = state;
  if (first) {
    $("camera").replaceChildren(...state.cameras.map((c) => new Option(c, c)));
    $("label").replaceChildren(...[...state.skus, state.foreign_label].map((s) => new Option(s, s)));
    if (state.cameras.length) openStream().catch((err) => say(err.message));
  }
  $("queue-count").textContent = `(${state.queue.length})`;
  $("queue").replaceChildren(...state.queue.map(queueItem));
  const lease = state.lease;
  app.holding = !!lease && lease.operator === app.operator;
  $("control").textContent = lease ? `operator ${lease.operator}` : "autonomy";
  $("engaged").textContent = lease && lease.engaged ? "(deadman held: live)" : lease ? "(holding)" : "";
  $("lease-controls").hidden = !app.holding;
  $("lease-request").textContent = app.holding && lease.request_id ? lease.request_id : "";
  $("target").textContent = state.target ? state.target.position.map((v) => v.toFixed(3)).join(", ") : "none";
  const joints = state.robot && state.robot.joints;
  $("robot-state").textContent = joints ? Object.entries(joints).map(([k, v]) => `${k} ${v.toFixed(3)}`).join("  ") : "no joint states";
  $("estop").classList.toggle("engaged", state.estop);
  $("estop").textContent = state.estop ? "E-STOP ENGAGED (release)" : "E-STOP";
}

// Store times are seconds whose remainder in a day is the time of day (as the planner's messages read).
function clock(t) {
  if (t === null || t === undefined) return "none";
  const day = ((t % 86400) + 86400) % 86400;
  return `${String(Math.floor(day / 3600)).padStart(2, "0")}:${String(Math.floor((day % 3600) / 60)).padStart(2, "0")}`;
}

function alertFigures(a) {
  const lead = a.lead_s === null ? "not before the delivery" : `${Math.round(a.lead_s / 60)} min`;
  return `lead ${lead}, ~${a.sales_at_risk.toFixed(0)} sales at risk, next delivery ${clock(a.next_delivery)}`;
}

function renderAlerts(alerts) {
  app.alerts = alerts;
  const banner = $("alert-banner");
  banner.hidden = alerts.length === 0;
  banner.textContent = alerts.length ? `Back room: ${alerts[0].message} (${alertFigures(alerts[0])})` : "";
  banner.dataset.alertId = alerts.length ? alerts[0].alert_id : "";
  $("alerts-count").textContent = `(${alerts.length})`;
  $("alerts").replaceChildren(
    ...alerts.map((a) => {
      const li = document.createElement("li");
      li.dataset.alertId = a.alert_id;
      const figures = document.createElement("div");
      figures.className = "figures";
      figures.textContent = alertFigures(a);
      li.append(a.message || a.sku, figures);
      return li;
    }),
  );
}

const thumbs = new Map(); // request id -> object URL

function queueItem(item) {
  const li = document.createElement("li");
  li.dataset.requestId = item.request_id;
  li.classList.toggle("claimed", !!item.claimed_by);
  if (item.has_image) {
    const img = document.createElement("img");
    img.alt = item.kind;
    if (thumbs.has(item.request_id)) img.src = thumbs.get(item.request_id);
    else
      fetch(`/api/handoff/${encodeURIComponent(item.request_id)}/image`, { headers: { Authorization: `Bearer ${app.token}` } })
        .then((r) => (r.ok ? r.blob() : null))
        .then((b) => {
          if (b) {
            thumbs.set(item.request_id, URL.createObjectURL(b));
            img.src = thumbs.get(item.request_id);
          }
        });
    li.append(img);
  }
  const text = document.createElement("span");
  text.textContent = `${item.kind} ${item.lane_id || ""} (${item.source}, ${item.waiting_s} s) ${item.detail || ""}${item.claimed_by ? ` - ${item.claimed_by}` : ""}`;
  const claim = document.createElement("button");
  claim.textContent = "Claim";
  claim.className = "claim";
  claim.disabled = !!item.claimed_by;
  claim.onclick = () => app.send({ type: "claim", request_id: item.request_id });
  li.append(text, claim);
  return li;
}

export function claimedRequest() {
  return app.holding ? app.state.lease.request_id : null;
}

export function resolve(action, label) {
  const request_id = claimedRequest();
  if (!request_id) return say("claim a handoff first");
  app.send({ type: "resolve", request_id, action, ...(label ? { label } : {}) });
}

// The headset's one "resolve" button: a label for an unfamiliar item, "cleared" for anything else.
export function resolveClaimed(label) {
  const id = claimedRequest();
  const item = id && app.state.queue.find((q) => q.request_id === id);
  if (item && item.kind !== "unfamiliar_item") resolve("cleared");
  else resolve("labelled", label);
}

export function release() {
  app.send({ type: "release" });
}

// --- desktop control: Space is the deadman, keys move a virtual controller ------------------
const KEYS = { KeyW: [2, -1], KeyS: [2, 1], KeyA: [0, -1], KeyD: [0, 1], KeyR: [1, 1], KeyF: [1, -1] };

function deskTick(dt) {
  if (!app.holding || app.inXR) return;
  const d = app.desk;
  for (const [code, [axis, sign]] of Object.entries(KEYS)) if (d.keys.has(code)) d.pos[axis] += sign * 0.15 * dt;
  if (d.keys.has("KeyQ")) d.yaw += 0.8 * dt;
  if (d.keys.has("KeyE")) d.yaw -= 0.8 * dt;
  const q = [0, Math.sin(d.yaw / 2), 0, Math.cos(d.yaw / 2)];
  app.send({ type: "pose", position: d.pos, orientation: q, grip: d.keys.has("Space") || d.mouse, trigger: d.keys.has("KeyG") ? 1 : 0, sent: performance.now() });
}

function isTyping(ev) {
  return ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement;
}

window.addEventListener("keydown", (ev) => {
  if (isTyping(ev)) return;
  app.desk.keys.add(ev.code);
  if (ev.code === "Space") ev.preventDefault();
});
window.addEventListener("keyup", (ev) => app.desk.keys.delete(ev.code));
window.addEventListener("blur", () => {
  app.desk.keys.clear(); // a lost key-up must not leave the deadman held
  app.desk.mouse = false;
});
// Mouse: a button held on the camera view is the deadman; dragging moves right/left and up/down,
// the wheel moves forward/back.
const view = $("view");
view.addEventListener("pointerdown", (ev) => {
  app.desk.mouse = true;
  view.setPointerCapture(ev.pointerId);
});
for (const end of ["pointerup", "pointercancel", "lostpointercapture"]) view.addEventListener(end, () => (app.desk.mouse = false));
view.addEventListener("pointermove", (ev) => {
  if (!app.desk.mouse) return;
  app.desk.pos[0] += ev.movementX * 0.0005;
  app.desk.pos[1] -= ev.movementY * 0.0005;
});
view.addEventListener("wheel", (ev) => {
  if (!app.desk.mouse) return;
  ev.preventDefault();
  app.desk.pos[2] += Math.sign(ev.deltaY) * 0.005;
});

let last = performance.now();
setInterval(() => {
  const now = performance.now();
  deskTick((now - last) / 1000);
  last = now;
}, 33);
// The heartbeat: the bridge holds the arm when it hears nothing for 250 ms.
setInterval(() => {
  if (app.holding) app.send({ type: "heartbeat" });
}, 100);

$("login-form").addEventListener("submit", login);
$("logout").onclick = logout;
$("estop").onclick = () => app.send({ type: "estop", engaged: !(app.state && app.state.estop) });
$("camera").onchange = () => watchCamera($("camera").value);
$("resolve-label").onclick = () => resolve("labelled", $("label").value);
$("resolve-cleared").onclick = () => resolve("cleared");
$("resolve-removed").onclick = () => resolve("removed");
$("resolve-retried").onclick = () => resolve("retried");
$("resolve-abandoned").onclick = () => resolve("abandoned");
$("release").onclick = release;
$("enter-vr").onclick = () => startXR(app, { resolveClaimed, release, say, frameDrawn, labels: () => [...$("label").options].map((o) => o.value) }).catch((err) => say(`VR: ${err.message}`));
xrSupported().then((ok) => {
  $("enter-vr").disabled = !ok;
  $("enter-vr").title = ok ? "" : "no immersive-vr session on this browser";
});
