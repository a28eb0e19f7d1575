// The camera stream, off the page's main thread: this worker holds its own authenticated
// WebSocket to the bridge (a ticket from the page), which only watches a camera. Each binary frame
// is parsed and its JPEG decoded here into an ImageBitmap that the page gets transferred, not
// copied; the page's work (state, layout, the XR frame loop) never holds a frame back. The bridge
// sends the next frame when this worker has taken the last one (decoded it, or dropped it for a
// newer one), so no stale frame queues anywhere. Frame header: protocol.py FRAME_HEADER.
// The fleet console runs it too, on the fleet service's socket: with a robot given, the watch goes
// to that robot as a relayed command and the frames come through the service (restock/fleet/relay.py).
const HEADER = 40; // u8 version, u8 camera, u16 reserved, u32 number, f64 capture, received, encoded, sent
const VERSION = 2;

let ws = null;
let camera = null;
let robot = null; // through the fleet: the robot the watch is relayed to
let pending = null; // { buffer, arrived }: the newest frame not yet decoded
let busy = false;

const epochNow = () => (performance.timeOrigin + performance.now()) / 1000;

function send(msg) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function watch() {
  const msg = { type: "watch", camera_id: camera };
  send(robot ? { type: "command", robot, body: msg } : msg);
}

function stamps(buffer, arrived) {
  const v = new DataView(buffer);
  return {
    version: v.getUint8(0),
    camera: v.getUint8(1),
    number: v.getUint32(4, true),
    capture: v.getFloat64(8, true),
    received: v.getFloat64(16, true),
    encoded: v.getFloat64(24, true),
    sent: v.getFloat64(32, true),
    arrived,
  };
}

function dropped(frame, error) {
  send({ type: "frame_shown", capture: frame.capture, shown: epochNow(), dropped: true });
  self.postMessage({ type: "dropped", error });
}

async function decodeNewest() {
  busy = true;
  while (pending) {
    const { buffer, arrived } = pending;
    pending = null;
    const frame = stamps(buffer, arrived);
    if (frame.version !== VERSION) {
      dropped(frame, `frame version ${frame.version}`);
      continue;
    }
    try {
      const bitmap = await createImageBitmap(new Blob([new Uint8Array(buffer, HEADER)], { type: "image/jpeg" }));
      frame.decoded = epochNow();
      send({ type: "frame_shown", capture: frame.capture, shown: frame.decoded });
      self.postMessage({ type: "frame", frame, bitmap }, [bitmap]);
    } catch (err) {
      dropped(frame, String(err));
    }
  }
  busy = false;
}

function take(buffer) {
  const arrived = epochNow();
  if (pending) dropped(stamps(pending.buffer, pending.arrived), null);
  pending = { buffer, arrived };
  if (!busy) decodeNewest();
}

function open(url) {
  if (ws) ws.close();
  const socket = new WebSocket(url);
  ws = socket;
  socket.binaryType = "arraybuffer";
  socket.onopen = watch;
  socket.onmessage = (ev) => {
    if (typeof ev.data !== "string") take(ev.data); // state and alerts come on the page's own socket
  };
  socket.onclose = (ev) => {
    if (ws === socket) self.postMessage({ type: "closed", code: ev.code, reason: ev.reason });
  };
}

self.onmessage = (ev) => {
  const m = ev.data;
  if (m.type === "open") {
    camera = m.camera || null;
    robot = m.robot || null;
    open(m.url);
  } else if (m.type === "watch") {
    camera = m.camera || null;
    watch();
  } else if (m.type === "close" && ws) {
    const socket = ws;
    ws = null;
    socket.close();
  }
};
