"""The operator console the fleet service serves at ``/``: log in, the tenant's queue in the order
it will be served, claim, resolve, the operators online with their load, the robots, the waits.

A page and a script with no dependencies and nothing fetched from elsewhere (the service's CSP
allows 'self' only, so the script is a file of its own, not inline). Everything a robot or another
operator wrote (details, lane ids) goes into the page as text, never as HTML.
"""

from __future__ import annotations

from pathlib import Path

INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>restock fleet console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="/console.js" defer></script>
</head><body style="font-family: sans-serif; margin: 1.5em">
<h1>restock fleet</h1>
<form id="login-form">
  <input id="operator" placeholder="operator" autocomplete="username">
  <input id="password" type="password" placeholder="password" autocomplete="current-password">
  <button id="login" type="submit">log in</button>
</form>
<div id="console" hidden>
  <p><span id="who"></span> <button id="claim-next">claim the next handoff</button> <button id="logout">log out</button></p>
  <p id="waits"></p>
  <table id="queue" border="1" cellpadding="4" style="border-collapse: collapse">
    <thead><tr><th>#</th><th>store</th><th>robot</th><th>kind</th><th>lane</th><th>lost sales/h</th>
    <th>waiting s</th><th>state</th><th>detail</th><th></th></tr></thead><tbody></tbody></table>
  <h2>operators</h2>
  <table id="operators" border="1" cellpadding="4" style="border-collapse: collapse">
    <thead><tr><th>name</th><th>online</th><th>holding</th><th>resolved (1 h)</th><th>busy s (1 h)</th></tr></thead>
    <tbody></tbody></table>
  <h2>robots</h2>
  <table id="robots" border="1" cellpadding="4" style="border-collapse: collapse">
    <thead><tr><th>robot</th><th>store</th><th>linked</th><th>last heard s ago</th></tr></thead>
    <tbody></tbody></table>
</div>
<section id="camera-box" hidden>
  <h2>camera of <span id="camera-robot"></span> <select id="camera"></select> <span id="fps"></span></h2>
  <canvas id="view" width="640" height="480"></canvas>
</section>
<p id="status" role="status"></p>
</body></html>
"""

CONSOLE_JS = r"""'use strict';
let token = null, me = null, ws = null;
const $ = (id) => document.getElementById(id);
const say = (text) => { $('status').textContent = text; };

async function api(path, body) {
  const r = await fetch(path, {method: body === undefined ? 'GET' : 'POST',
    headers: Object.assign({'Content-Type': 'application/json'}, token ? {Authorization: 'Bearer ' + token} : {}),
    body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || ('HTTP ' + r.status));
  return data;
}

function cell(row, text) { const td = document.createElement('td'); td.textContent = String(text ?? ''); row.appendChild(td); return td; }

function button(td, label, onclick) {
  const b = document.createElement('button'); b.textContent = label; b.onclick = onclick; td.appendChild(b); return b;
}

function render(view) {
  const body = $('queue').tBodies[0];
  body.replaceChildren();
  view.handoffs.forEach((h, i) => {
    const row = body.insertRow();
    row.dataset.requestId = h.request_id;
    row.dataset.id = h.id;
    [h.state === 'open' ? i + 1 : '-', h.store, h.robot, h.kind, h.lane_id, h.blocked_sales_per_h.toFixed(1),
     h.waiting_s.toFixed(0), h.state + (h.claimed_by ? ' by ' + h.claimed_by : ''), h.detail].forEach((t) => cell(row, t));
    const act = cell(row, '');
    if (h.state === 'open') button(act, 'claim', () => send({type: 'claim', id: h.id})).className = 'claim';
    if (h.state === 'claimed' && h.claimed_by === me) {
      const pick = document.createElement('select'); pick.className = 'action';
      ['labelled', 'removed', 'cleared', 'retried', 'abandoned'].forEach((a) => pick.add(new Option(a, a)));
      act.appendChild(pick);
      button(act, 'resolve', () => send({type: 'resolve', id: h.id, action: pick.value})).className = 'resolve';
      button(act, 'release', () => send({type: 'release', id: h.id})).className = 'release';
    }
  });
  const ops = $('operators').tBodies[0];
  ops.replaceChildren();
  (view.operators || []).forEach((o) => {
    const row = ops.insertRow();
    [o.name, o.online ? 'yes' : 'no', o.holding, o.resolved_last_hour, o.busy_s_last_hour.toFixed(0)].forEach((t) => cell(row, t));
  });
  const robots = $('robots').tBodies[0];
  robots.replaceChildren();
  (view.robots || []).forEach((r) => {
    const row = robots.insertRow();
    [r.id, r.store, r.linked ? 'yes' : 'no', r.seen_s_ago === null ? '-' : r.seen_s_ago.toFixed(0)].forEach((t) => cell(row, t));
  });
  const w = view.waits || {open: 0, longest_s: 0, median_s: 0};
  $('waits').textContent = w.open + ' open, longest wait ' + w.longest_s.toFixed(0) + ' s, median ' + w.median_s.toFixed(0) + ' s';
}

function send(message) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message)); }

async function connect() {
  const {ticket} = await api('/api/ticket', {});
  ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws?ticket=' + encodeURIComponent(ticket));
  ws.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.type === 'queue') { render(m); followClaim(m); }
    else if (m.type === 'reply' && m.body.robot === video.robot && Array.isArray(m.body.cameras) && m.body.cameras.length && !video.worker)
      startCamera(m.body.cameras).catch((err) => say('camera: ' + err.message));
    else if (m.type === 'claimed') say('claimed #' + m.id + ' (' + m.request_id + ') on robot ' + m.robot);
    else if (m.type === 'resolved') say('resolved ' + m.request_id + ': ' + m.action);
    else if (m.type === 'released') say('released #' + m.id);
    else if (m.type === 'error') say('refused: ' + m.error);
  };
  ws.onclose = (event) => { say('disconnected (' + event.code + ')'); };
}

$('login-form').onsubmit = async (event) => {
  event.preventDefault();
  try {
    const r = await api('/api/login', {operator: $('operator').value, password: $('password').value});
    token = r.token; me = r.operator;
    $('who').textContent = me + ' (' + r.tenant + ')';
    $('login-form').hidden = true; $('console').hidden = false;
    await connect();
  } catch (err) { say('login refused: ' + err.message); }
};
$('claim-next').onclick = () => send({type: 'claim'});
// The camera of the robot whose handoff this operator holds, through the service: the operator app's
// own frame worker (/app/frames.js: a socket of its own, JPEG decoded off the page's thread, the
// newest frame only, each taken frame told so the service sends the next).
const video = {robot: null, worker: null, frameLog: [], framesShown: 0, framesDropped: 0};
window.fleetConsole = video;
const epochNow = () => (performance.timeOrigin + performance.now()) / 1000;
function followClaim(view) {
  const held = view.handoffs.find((h) => h.state === 'claimed' && h.claimed_by === me);
  if (held && held.robot !== video.robot) {
    stopCamera();
    video.robot = held.robot;
    send({type: 'command', robot: held.robot, body: {type: 'heartbeat'}}); // its state (cameras) comes back
  } else if (!held && video.robot) stopCamera();
}
function stopCamera() {
  if (video.worker) { video.worker.postMessage({type: 'close'}); video.worker.terminate(); }
  video.worker = null; video.robot = null; $('camera-box').hidden = true;
}
async function startCamera(cameras) {
  const worker = new Worker('/app/frames.js', {type: 'module'});
  video.worker = worker;
  $('camera').replaceChildren(...cameras.map((c) => new Option(c, c)));
  $('camera-robot').textContent = video.robot;
  $('camera-box').hidden = false;
  worker.onmessage = (event) => {
    const m = event.data;
    if (m.type === 'dropped') video.framesDropped += 1;
    if (m.type !== 'frame') return;
    $('view').getContext('bitmaprenderer', {alpha: false}).transferFromImageBitmap(m.bitmap);
    m.frame.drawn = epochNow();
    video.framesShown += 1;
    video.frameLog.push(m.frame);
    if (video.frameLog.length > 2000) video.frameLog.shift();
  };
  const {ticket} = await api('/api/ticket', {});
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws?ticket=' + encodeURIComponent(ticket);
  worker.postMessage({type: 'open', url, camera: cameras[0], robot: video.robot});
}
$('camera').onchange = () => { if (video.worker) video.worker.postMessage({type: 'watch', camera: $('camera').value}); };
$('logout').onclick = async () => { try { await api('/api/logout', {}); } finally { token = null; location.reload(); } };
"""

# Served by the service: its console, and the operator app's camera worker (one file for both).
SCRIPTS = {
    "/console.js": CONSOLE_JS,
    "/app/frames.js": (Path(__file__).resolve().parents[1] / "teleop" / "web" / "app" / "frames.js").read_text(),
}
