"""Hands-free voice chat: talk to MiMo-Audio with turn-taking, a streamed reply and barge-in.

* :mod:`app.voice.turns`: when a turn starts and ends (WebRTC VAD per frame, pure logic);
* :mod:`app.voice.session`: one user's conversation loop, whatever carries the audio;
* :mod:`app.voice.tab`: the "Voice Chat" tab (gradio's streaming microphone input);
* :mod:`app.voice.ws`: the same loop for programs, a websocket on the app's server.
"""

from .session import VoiceEvent, VoiceSession
from .turns import TurnDetector, TurnSettings
from .ws import WS_PATH, voice_routes

__all__ = ["VoiceEvent", "VoiceSession", "TurnDetector", "TurnSettings", "WS_PATH", "voice_routes",
           "voice_tab"]


def __getattr__(name):
    if name == "voice_tab":              # lazy: the websocket side does not need gradio
        from .tab import voice_tab
        return voice_tab
    raise AttributeError(f"module 'app.voice' has no attribute {name!r}")
