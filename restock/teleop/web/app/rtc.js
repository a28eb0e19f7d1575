// The camera as a WebRTC video track (restock/teleop/webrtc.py): signalling on the page's own
// authenticated socket (rtc_offer / rtc_answer), no STUN or TURN server, VP8 decoded by the
// browser and shown by the given <video> itself. Each frame it presents is handed to onFrame with
// its metadata (requestVideoFrameCallback: RTP time, receive and presentation times).
const ANSWER_TIMEOUT_MS = 5000;

function gathered(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => pc.iceGatheringState === "complete" && resolve();
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms); // the host candidates come at once; never wait on anything else
  });
}

// Start the track for `camera`; resolves when the first frame is shown, rejects (the caller
// falls back to JPEG frames on the socket) if the bridge refuses or nothing comes.
export async function startRtc(app, camera, video, onFrame) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
  const vp8 = RTCRtpReceiver.getCapabilities("video").codecs.filter((c) => c.mimeType === "video/VP8");
  if (vp8.length) transceiver.setCodecPreferences(vp8);
  // Show each frame as soon as it is decoded: on loopback there is no jitter to buffer against.
  transceiver.receiver.jitterBufferTarget = 0;
  transceiver.receiver.playoutDelayHint = 0; // Chromium's older name for the same
  pc.ontrack = (ev) => {
    video.srcObject = new MediaStream([ev.track]);
    video.play().catch(() => {});
  };
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 1000);
  const answer = new Promise((resolve, reject) => {
    app.rtcAnswer = resolve;
    setTimeout(() => reject(new Error("no WebRTC answer from the bridge")), ANSWER_TIMEOUT_MS);
  });
  app.send({ type: "rtc_offer", camera_id: camera, sdp: pc.localDescription.sdp });
  try {
    await pc.setRemoteDescription({ type: "answer", sdp: await answer });
    await new Promise((resolve, reject) => {
      const next = (now, meta) => {
        resolve();
        onFrame(video, meta);
        video.requestVideoFrameCallback(next);
      };
      video.requestVideoFrameCallback(next);
      setTimeout(() => reject(new Error("no WebRTC video frame")), ANSWER_TIMEOUT_MS);
    });
  } catch (err) {
    pc.close();
    video.srcObject = null;
    throw err;
  }
  return { pc, video };
}
