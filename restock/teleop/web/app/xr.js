// The WebXR immersive-vr view: the camera feed on a panel, the queue and the robot's state on a
// second panel, the controllers mapped to the end-effector target (grip = deadman, trigger =
// gripper), A resolves the claimed handoff (an unfamiliar item: the label the thumbstick picks;
// anything else: cleared), B hands back. Plain WebGL: two textured quads and a cursor, no engine.

const epochNow = () => (performance.timeOrigin + performance.now()) / 1000;

export async function xrSupported() {
  try {
    return !!navigator.xr && (await navigator.xr.isSessionSupported("immersive-vr"));
  } catch (err) {
    return false;
  }
}

const VERT = `attribute vec3 pos; attribute vec2 uv; uniform mat4 proj, view, model; varying vec2 vUv;
void main() { vUv = uv; gl_Position = proj * view * model * vec4(pos, 1.0); }`;
const FRAG = `precision mediump float; uniform sampler2D tex; uniform vec4 tint; uniform bool useTex; varying vec2 vUv;
void main() { gl_FragColor = useTex ? texture2D(tex, vUv) : tint; }`;

function program(gl) {
  const prog = gl.createProgram();
  for (const [type, src] of [[gl.VERTEX_SHADER, VERT], [gl.FRAGMENT_SHADER, FRAG]]) {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    gl.attachShader(prog, s);
  }
  gl.linkProgram(prog);
  return prog;
}

function quad(gl) {
  // x y z u v, a unit square centred on the origin facing +z
  const data = new Float32Array([-0.5, -0.5, 0, 0, 1, 0.5, -0.5, 0, 1, 1, 0.5, 0.5, 0, 1, 0, -0.5, -0.5, 0, 0, 1, 0.5, 0.5, 0, 1, 0, -0.5, 0.5, 0, 0, 0]);
  const buf = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, buf);
  gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
  return buf;
}

function model(x, y, z, sx, sy, q = [0, 0, 0, 1]) {
  const [a, b, c, d] = q; // rotation from a unit quaternion, then scale, then translation
  const r = [1 - 2 * (b * b + c * c), 2 * (a * b + c * d), 2 * (a * c - b * d), 2 * (a * b - c * d), 1 - 2 * (a * a + c * c), 2 * (b * c + a * d), 2 * (a * c + b * d), 2 * (b * c - a * d), 1 - 2 * (a * a + b * b)];
  return new Float32Array([r[0] * sx, r[1] * sx, r[2] * sx, 0, r[3] * sy, r[4] * sy, r[5] * sy, 0, r[6], r[7], r[8], 0, x, y, z, 1]);
}

function infoCanvas() {
  const c = document.createElement("canvas");
  c.width = 512;
  c.height = 512;
  return c;
}

function drawInfo(canvas, app, labels, labelIndex) {
  const g = canvas.getContext("2d");
  g.fillStyle = "#15181c";
  g.fillRect(0, 0, 512, 512);
  g.fillStyle = "#e6e6e6";
  g.font = "24px sans-serif";
  const s = app.state || { queue: [], lease: null };
  const lines = [`robot ${s.robot_id || ""}  ${s.estop ? "E-STOP" : ""}`, s.lease ? `operator ${s.lease.operator} ${s.lease.engaged ? "LIVE" : "holding"}` : "autonomy", `queue (${s.queue.length}):`];
  for (const q of s.queue.slice(0, 6)) lines.push(` ${q.kind} ${q.lane_id || ""} ${q.waiting_s}s`);
  if (s.target) lines.push(`target ${s.target.position.map((v) => v.toFixed(2)).join(" ")}`);
  lines.push("", `label: < ${labels[labelIndex] || ""} >`, "grip: move  trigger: gripper", "A: label/cleared  B: hand back");
  lines.forEach((t, i) => g.fillText(t, 16, 36 + i * 32));
}

export async function startXR(app, ui) {
  const session = await navigator.xr.requestSession("immersive-vr", { optionalFeatures: ["local-floor"] });
  const canvas = document.createElement("canvas");
  // Opaque, no depth or stencil: the quads are drawn back to front (the cursors last, on top), and
  // an opaque layer is neither blended nor depth-cleared by the compositor each frame.
  const attributes = { antialias: false, alpha: false, depth: false, stencil: false };
  const gl = canvas.getContext("webgl", { xrCompatible: true, ...attributes });
  await gl.makeXRCompatible();
  session.updateRenderState({ baseLayer: new XRWebGLLayer(session, gl, attributes) });
  let space;
  try {
    space = await session.requestReferenceSpace("local-floor");
  } catch (err) {
    space = await session.requestReferenceSpace("local");
  }
  const prog = program(gl);
  const buf = quad(gl);
  // Looked up once: each lookup is a round trip to the GPU process, every frame otherwise.
  const uniforms = Object.fromEntries(["proj", "view", "model", "useTex", "tint"].map((n) => [n, gl.getUniformLocation(prog, n)]));
  const loc = (n) => uniforms[n];
  const aPos = gl.getAttribLocation(prog, "pos");
  const aUv = gl.getAttribLocation(prog, "uv");
  const sizes = new Map(); // texture -> "WxH" of its storage: a same-size frame is copied in, not reallocated
  const camTex = gl.createTexture();
  let camReady = false;
  // The newest decoded camera frame, {frame, source}: uploaded in the next XR frame, once. Uploading
  // each frame as it came measured worse in the emulated headset (bench/teleop_latency.py, 4 rounds
  // each in turn at load 8-11: 14.1 vs 18.7 fps drawn, p99 289 vs 192 ms): a frame that a newer one
  // replaced before the XR frame had been uploaded for nothing, and there the frames reach the
  // page's main thread just before an XR frame anyway (the runtime holds it in between).
  let camNext = null;
  let camAspect = 0.75; // height / width of the video, for the panel
  const infoTex = gl.createTexture();
  const info = infoCanvas();
  let labelIndex = 0;
  let lastButtons = {};
  let lastInfo = 0;
  let infoShown = {};
  app.inXR = true;
  app.xrFrames = 0;
  app.xrWork = [];
  app.xrSession = session;
  app.framesReplaced = 0; // decoded, then replaced by a newer frame before an XR frame drew them
  app.xrTake = take;
  session.addEventListener("end", () => {
    app.inXR = false;
    app.xrSession = null;
    app.xrTake = null;
  });

  function upload(tex, source) {
    gl.bindTexture(gl.TEXTURE_2D, tex);
    const size = `${source.width || source.videoWidth}x${source.height || source.videoHeight}`;
    if (sizes.get(tex) === size) {
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, gl.RGBA, gl.UNSIGNED_BYTE, source);
      return;
    }
    sizes.set(tex, size);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, source);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  }

  // A decoded camera frame (an ImageBitmap, or the <video> of WebRTC) with its stamps, as it comes.
  function take(frame, source) {
    frame.taken = epochNow();
    if (camNext) {
      app.framesReplaced += 1; // decoded, never drawn: the bench counts it with the dropped ones
      if (camNext.source.close) camNext.source.close();
    }
    camNext = { frame, source };
  }

  function draw(view, m, tex, tint) {
    gl.uniformMatrix4fv(loc("proj"), false, view.projectionMatrix);
    gl.uniformMatrix4fv(loc("view"), false, view.transform.inverse.matrix);
    gl.uniformMatrix4fv(loc("model"), false, m);
    gl.uniform1i(loc("useTex"), tex ? 1 : 0);
    if (tex) gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.uniform4fv(loc("tint"), tint || [1, 1, 1, 1]);
    gl.drawArrays(gl.TRIANGLES, 0, 6);
  }

  function pressed(source, index) {
    const b = source.gamepad && source.gamepad.buttons[index];
    return !!b && (b.pressed || b.value > 0.5);
  }

  function handleInput(frame) {
    const labels = ui.labels();
    let sentPose = false;
    for (const source of session.inputSources) {
      if (!source.gripSpace || !source.gamepad) continue;
      const key = source.handedness;
      const was = lastButtons[key] || {};
      const now = { a: pressed(source, 4), b: pressed(source, 5) };
      const axes = source.gamepad.axes;
      const stickY = axes.length >= 4 ? axes[3] : 0;
      if (Math.abs(stickY) > 0.7 && !was.stick) labelIndex = (labelIndex + (stickY > 0 ? 1 : -1) + labels.length) % labels.length;
      now.stick = Math.abs(stickY) > 0.7;
      if (key !== "left" && now.a && !was.a) ui.resolveClaimed(labels[labelIndex]);
      if (key !== "left" && now.b && !was.b) ui.release();
      lastButtons[key] = now;
      // The right controller drives the arm (the left one if it is alone).
      if (sentPose || (key === "left" && session.inputSources.length > 1)) continue;
      const pose = frame.getPose(source.gripSpace, space);
      if (!pose || !app.holding) continue;
      const p = pose.transform.position;
      const o = pose.transform.orientation;
      app.send({ type: "pose", position: [p.x, p.y, p.z], orientation: [o.x, o.y, o.z, o.w], grip: pressed(source, 1), trigger: source.gamepad.buttons[0] ? source.gamepad.buttons[0].value : 0, sent: performance.now() });
      app.xrPose = [p.x, p.y, p.z];
      sentPose = true;
    }
  }

  function onFrame(time, frame) {
    const began = epochNow();
    session.requestAnimationFrame(onFrame);
    app.xrFrames += 1;
    handleInput(frame);
    const pose = frame.getViewerPose(space);
    if (!pose) return;
    const layer = session.renderState.baseLayer;
    // No clear of our own: the runtime clears the layer's framebuffer before each XR frame (WebXR's
    // opaque framebuffer), and a second pass over both eyes costs a software GL a full fill.
    gl.bindFramebuffer(gl.FRAMEBUFFER, layer.framebuffer);
    gl.useProgram(prog);
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.enableVertexAttribArray(aPos);
    gl.vertexAttribPointer(aPos, 3, gl.FLOAT, false, 20, 0);
    gl.enableVertexAttribArray(aUv);
    gl.vertexAttribPointer(aUv, 2, gl.FLOAT, false, 20, 12);
    const fresh = camNext && camNext.frame;
    if (fresh) {
      fresh.xrFrame = began;
      const { source } = camNext;
      upload(camTex, source);
      fresh.uploaded = epochNow();
      const w = source.width || source.videoWidth;
      if (w) camAspect = (source.height || source.videoHeight) / w;
      if (source.close) source.close(); // an ImageBitmap: its pixels are in the texture
      camReady = true;
      camNext = null;
    }
    // The info panel is drawn and uploaded again when what it shows changed (at most 4 times a second).
    if (time - lastInfo > 250 && (app.state !== infoShown.state || labelIndex !== infoShown.labelIndex)) {
      drawInfo(info, app, ui.labels(), labelIndex);
      upload(infoTex, info);
      lastInfo = time;
      infoShown = { state: app.state, labelIndex }; // a state message replaces app.state whole
    }
    const cursors = [];
    for (const source of session.inputSources) {
      const p = source.gripSpace && frame.getPose(source.gripSpace, space);
      if (p) cursors.push(p.transform);
    }
    for (const view of pose.views) {
      const vp = layer.getViewport(view);
      gl.viewport(vp.x, vp.y, vp.width, vp.height);
      draw(view, model(0, 1.5, -1.6, 1.28, 1.28 * camAspect), camReady ? camTex : null, [0.2, 0.2, 0.2, 1]);
      draw(view, model(-1.25, 1.5, -1.3, 0.8, 0.8, [0, 0.2588, 0, 0.9659]), infoTex);
      for (const t of cursors) {
        const o = t.orientation;
        const live = app.state && app.state.lease && app.state.lease.engaged;
        draw(view, model(t.position.x, t.position.y, t.position.z, 0.05, 0.05, [o.x, o.y, o.z, o.w]), null, live ? [0.1, 0.9, 0.2, 1] : [0.9, 0.7, 0.1, 1]);
      }
    }
    if (fresh) ui.frameDrawn(fresh, "xr");
    // This callback's own time (the main thread's share of an XR frame; the GL work itself runs
    // in the GPU process): bench/teleop_latency.py prints its percentiles.
    app.xrWork.push((epochNow() - began) * 1000);
    if (app.xrWork.length > 2000) app.xrWork.shift();
  }
  session.requestAnimationFrame(onFrame);
  return session;
}
