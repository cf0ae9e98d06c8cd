"""A live RTSP camera for the tests: GStreamer's RTSP server (gst-rtsp-server) serving a
folder of JPEG frames as RTP/JPEG at a fixed rate, looping, on rtsp://127.0.0.1:PORT/cam.

Runs under the system's Python (Debian's python3-gst-1.0 and gir1.2-gst-rtsp-server-1.0),
not the venv: ``/usr/bin/python3 tests/rtsp_camera.py FOLDER PORT FPS``. Commands on stdin,
one a line, change what the camera does without closing its sessions:

    freeze          no more frames (a hung encoder behind a live RTSP server)
    trickle SECONDS the last picture again every SECONDS (a frozen camera that lets a frame
                    out now and then, which keeps a client's read timeout from firing)
    play            frames at the full rate again, from where they stopped

Killing the process is an outage; starting it again on the same port is the camera back.
"""

import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    folder, port, fps = sys.argv[1], sys.argv[2], float(sys.argv[3])
    Gst.init(None)
    frames = [p.read_bytes() for p in sorted(Path(folder).glob("*.jpg"))]
    cam = {"i": 0, "src": None, "mode": "play"}

    def push(data: bytes) -> None:
        if cam["src"] is not None:
            cam["src"].emit("push-buffer", Gst.Buffer.new_wrapped(data))

    def tick() -> bool:
        if cam["mode"] == "play":
            push(frames[cam["i"] % len(frames)])
            cam["i"] += 1
        return True

    def trickle() -> bool:
        if cam["mode"] != "trickle":
            return False
        push(frames[(cam["i"] - 1) % len(frames)])
        return True

    def command(stream, _condition) -> bool:
        line = stream.readline()
        if not line:  # the test went away
            loop.quit()
            return False
        words = line.split()
        cam["mode"] = words[0]
        if words[0] == "trickle":
            GLib.timeout_add(int(float(words[1]) * 1000), trickle)
        return True

    def configure(_factory, media) -> None:
        cam["src"] = media.get_element().get_by_name("src")

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( appsrc name=src is-live=true do-timestamp=true format=time "
        f'caps="image/jpeg,framerate={int(fps)}/1" ! jpegparse ! rtpjpegpay name=pay0 pt=26 )'
    )
    factory.set_shared(True)
    factory.connect("media-configure", configure)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    GLib.timeout_add(max(1, round(1000 / fps)), tick)
    GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, command)
    loop = GLib.MainLoop()
    print("serving", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
