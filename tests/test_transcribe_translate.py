"""Transcriber and Translator against the local server, their frames checked by the official SDK's types.

Every server frame of a broad scenario on each endpoint is validated with the SDK's pydantic
unions (``RealtimeServerEvent`` for transcription sessions, ``RealtimeTranslationServerEvent`` for
the translation endpoint), and every frame rtsync sends with the client unions. The SDK's own
translation client is pointed at the local server too.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import websocket

from rtsync import ServerError, Transcriber, Translation, Translator
from rtsync.audio.formats import read_wav, write_wav
from rtsync.events import parse_event
from rtsync.events import translation as te
from rtsync.server import LocalServer
from rtsync.server.translation import speak
from rtsync.transcribe import DEFAULT_TRANSCRIPTION_MODEL
from rtsync.translate import CHUNK_SAMPLES
from rtsync.transport import Transport

ROOT = Path(__file__).resolve().parents[1]
RATE = 24000
CAPTION = re.compile(r"^\[speech (\d+\.\d) s\]$")


def tone(seconds: float, hz: float = 300.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(RATE * seconds), np.int16)


def sdk_types():
    pydantic = pytest.importorskip("pydantic")
    realtime = pytest.importorskip("openai.types.realtime")
    try:
        from openai.types.realtime.realtime_translation_client_event import RealtimeTranslationClientEvent
        from openai.types.realtime.realtime_translation_server_event import RealtimeTranslationServerEvent
    except ImportError as exc:  # pragma: no cover - depends on the installed SDK
        pytest.skip(f"the installed openai SDK has no translation types ({exc}); needs openai>=3.57")
    ta = pydantic.TypeAdapter
    return (ta(realtime.RealtimeServerEvent), ta(realtime.RealtimeClientEvent),
            ta(RealtimeTranslationServerEvent), ta(RealtimeTranslationClientEvent))


@pytest.fixture
def sent_frames(monkeypatch):
    """Every text frame any Transport sends during the test, in order."""
    frames: list[str] = []
    original = Transport.send_text

    def record(self, text):
        frames.append(text)
        return original(self, text)

    monkeypatch.setattr(Transport, "send_text", record)
    return frames


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


# -- Transcriber -------------------------------------------------------------------------------

@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_transcribe_returns_the_scripted_caption_and_streams_deltas(local_server, dialect):
    with Transcriber(url=local_server.url, dialect=dialect) as tr:
        deltas: list[str] = []
        completed = []
        tr.on("conversation.item.input_audio_transcription.delta", lambda ev: deltas.append(ev.delta))
        tr.on("conversation.item.input_audio_transcription.completed", completed.append)
        text = tr.transcribe(np.concatenate([tone(1.5), silence(0.2)]))
        assert tr.client.dialect == dialect
        settings = tr.session
    assert text == "[speech 1.7 s]"
    assert len(deltas) == 3 and "".join(deltas) == text  # deltas first, then the completed
    assert completed[0].transcript == text
    assert completed[0].usage == {"type": "duration", "seconds": 1.7}
    assert settings.input_audio_transcription.model == DEFAULT_TRANSCRIPTION_MODEL


def test_server_vad_gives_one_caption_per_turn_as_they_come(local_server):
    captions: list[str] = []
    two = threading.Event()

    def on_done(ev):
        captions.append(ev.transcript)
        if len(captions) == 2:
            two.set()

    with Transcriber(url=local_server.url, language="en") as tr:
        tr.on("conversation.item.input_audio_transcription.completed", on_done)
        assert tr.session.turn_detection.type == "server_vad"
        tr.send_audio(np.concatenate([silence(0.3), tone(0.8), silence(1.0)]))
        tr.send_audio(np.concatenate([tone(2.0), silence(1.0)]).tobytes())  # pcm16 bytes work too
        assert two.wait(10)
    lengths = [float(CAPTION.match(c).group(1)) for c in captions]
    assert lengths[0] < lengths[1]  # in order, each its own turn
    assert 0.8 <= lengths[0] <= 1.4 and 2.0 <= lengths[1] <= 2.6


def test_transcribe_a_wav_file_at_another_rate(local_server, tmp_path):
    path = tmp_path / "in.wav"
    t = np.arange(16000 * 2) / 16000
    write_wav(path, (np.sin(2 * np.pi * 250 * t) * 8000).astype(np.int16), 16000)
    with Transcriber(url=local_server.url, turn_detection=None) as tr:
        assert tr.transcribe(path) == "[speech 2.0 s]"
        assert tr.transcribe(str(path)) == "[speech 2.0 s]"  # the session goes on


def test_too_little_audio_is_refused_by_the_server(local_server):
    with Transcriber(url=local_server.url) as tr, pytest.raises(ServerError) as info:
        tr.transcribe(tone(0.05))
    assert info.value.code == "input_audio_buffer_commit_empty"


def test_without_url_or_key_a_local_server_of_its_own(no_key):
    tr = Transcriber()
    with tr:
        server = tr.server
        assert isinstance(server, LocalServer) and tr.url.startswith(server.url)
        assert "intent=transcription" in tr.url
    assert tr.server is None
    with pytest.raises(OSError):  # stopped with the transcriber
        websocket.create_connection(server.url, timeout=2)
    assert Transcriber().transcribe(tone(1.0)) == "[speech 1.0 s]"  # connects and closes by itself


def test_conversation_events_are_refused_on_a_transcription_session(local_server):
    with Transcriber(url=local_server.url) as tr:
        with pytest.raises(ServerError) as info:
            tr.client.create_item("hello").wait(5)
        assert info.value.param == "type"
        assert tr.transcribe(tone(0.5)) == "[speech 0.5 s]"  # and the session goes on


# -- Translator ----------------------------------------------------------------------------------

def test_translate_returns_text_source_text_and_the_spoken_translation(local_server):
    url = local_server.url + "/translations"
    result = Translator(url=url, language="es").translate(np.concatenate([silence(0.2), tone(1.2)]))
    assert isinstance(result, Translation)
    assert result.source_text == "[speech 1.4 s]"
    assert result.text == "[es] [speech 1.4 s]"
    assert result.audio.dtype == np.int16
    expected = speak("speech 1.4 seconds", "es", local_server.voice)
    assert np.array_equal(result.audio, expected)  # espeak-ng in Spanish (or the tone), at 24 kHz


def test_translator_events_are_typed_and_source_transcripts_can_be_off(local_server):
    url = local_server.url + "/translations"
    seen = []
    with Translator(url=url, language="fr", source_transcript=False) as tr:
        tr.on("*", seen.append)
        assert tr.session.language == "fr"
        assert tr.session.audio["input"]["transcription"] is None
        result = tr.translate(tone(1.0))
    assert result.source_text == "" and result.text == "[fr] [speech 1.0 s]"
    kinds = {type(ev) for ev in seen}
    assert te.TranslationOutputTranscriptDelta in kinds and te.TranslationOutputAudioDelta in kinds
    assert te.TranslationInputTranscriptDelta not in kinds
    assert type(seen[-2]) is te.TranslationSessionClosed and seen[-1].type == "rtsync.close"
    assert all(ev.elapsed_ms % 200 == 0 for ev in seen if isinstance(ev, te.TranslationOutputAudioDelta))


def test_send_audio_goes_out_in_200_ms_appends(local_server, sent_frames):
    with Translator(url=local_server.url + "/translations") as tr:
        assert tr.send_audio(silence(0.3)) == 1      # 100 ms kept back
        assert tr.send_audio(silence(0.15)) == 1     # 100 + 150 ms: one more, 50 ms kept
        tr.flush()                                   # the 50 ms, padded to 200 ms
    appends = [json.loads(f) for f in sent_frames if "session.input_audio_buffer.append" in f]
    assert len(appends) == 3
    assert all(len(base64.b64decode(a["audio"])) == CHUNK_SAMPLES * 2 for a in appends)
    assert json.loads(sent_frames[-1])["type"] == "session.close"  # close() lets the service flush


def test_without_url_or_key_the_translator_starts_a_local_server(no_key):
    tr = Translator(language="de")
    result = tr.translate(tone(0.6))
    assert result.text == "[de] [speech 0.6 s]"
    assert tr.server is None  # stopped with the session


def test_translation_events_do_not_clash_with_conversation_events():
    frame = {"type": "session.created", "event_id": "e", "session": {"type": "translation", "id": "s"}}
    assert type(parse_event(frame, "translation")) is te.TranslationSessionCreated
    assert type(parse_event(frame)).__name__ == "SessionCreated"
    audio = {"type": "session.output_audio.delta", "delta": "AAAAAAAA"}  # 6 bytes: 3 samples
    assert parse_event(audio).type == "session.output_audio.delta"
    assert type(parse_event(audio)).__name__ == "UnknownEvent"
    assert parse_event(audio, "translation").samples.tolist() == [0, 0, 0]


# -- every frame, checked with the SDK's types -----------------------------------------------------

def _recv_all(ws, until: str, limit: int = 500) -> list[dict]:
    frames = []
    while len(frames) < limit:
        frame = json.loads(ws.recv())
        frames.append(frame)
        if frame["type"] == until:
            break
    return frames


def test_transcription_frames_pass_the_sdk_types(local_server):
    server_ev, client_ev, _, _ = sdk_types()
    ws = websocket.create_connection(local_server.url + "?intent=transcription", timeout=10)
    frames = [json.loads(ws.recv())]
    sent = [
        {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "transcription": {"model": "gpt-transcribe", "language": "en"},
            "noise_reduction": {"type": "near_field"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 400}}}}},
        {"type": "input_audio_buffer.append",
         "audio": base64.b64encode(np.concatenate([tone(0.7), silence(0.8)]).tobytes()).decode()},
    ]
    for ev in sent:
        client_ev.validate_python(ev)
        ws.send(json.dumps(ev))
    frames += _recv_all(ws, "conversation.item.input_audio_transcription.completed")
    more = [
        {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}}},
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(tone(0.5).tobytes()).decode()},
        {"type": "input_audio_buffer.commit"},
    ]
    for ev in more:
        client_ev.validate_python(ev)
        ws.send(json.dumps(ev))
    frames += _recv_all(ws, "conversation.item.input_audio_transcription.completed")
    ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
    ws.send(json.dumps({"type": "response.create"}))  # refused: no responses here
    frames += _recv_all(ws, "error")
    ws.close()
    kinds = [f["type"] for f in frames]
    for frame in frames:
        server_ev.validate_python(frame)
    assert frames[0]["session"]["type"] == "transcription"
    assert kinds.count("conversation.item.input_audio_transcription.completed") == 2
    assert "input_audio_buffer.cleared" in kinds and kinds[-1] == "error"
    assert not any(k.startswith(("response.", "conversation.item.added")) for k in kinds)


def test_translation_frames_pass_the_sdk_types(local_server):
    _, _, server_ev, client_ev = sdk_types()
    url = local_server.url + "/translations?model=gpt-realtime-translate"
    ws = websocket.create_connection(url, timeout=10)
    frames = [json.loads(ws.recv())]
    audio = np.concatenate([tone(0.8), silence(0.8), tone(0.6)])
    sent = [
        {"type": "session.update", "session": {"audio": {"output": {"language": "it"}, "input": {
            "transcription": {"model": "gpt-transcribe"}, "noise_reduction": {"type": "far_field", "strength": 0.5}}}}},
        *({"type": "session.input_audio_buffer.append",
           "audio": base64.b64encode(audio[i:i + CHUNK_SAMPLES].tobytes()).decode()}
          for i in range(0, len(audio), CHUNK_SAMPLES)),
        {"type": "session.close"},
    ]
    for ev in sent:
        client_ev.validate_python(ev)
    ws.send(json.dumps(sent[0]))
    ws.send(json.dumps({"type": "session.update", "session": {"model": "other"}}))  # refused: fixed at creation
    for ev in sent[1:]:
        ws.send(json.dumps(ev))
    ws.send(json.dumps({"type": "response.create"}))  # after close: never answered
    frames += _recv_all(ws, "session.closed")
    kinds = [f["type"] for f in frames]
    for frame in frames:
        server_ev.validate_python(frame)
    assert kinds[0] == "session.created" and kinds[1] == "session.updated" and kinds[-1] == "session.closed"
    assert "error" in kinds
    text = "".join(f["delta"] for f in frames if f["type"] == "session.output_transcript.delta")
    assert re.fullmatch(r"\[it\] \[speech \d\.\d s\]\[it\] \[speech \d\.\d s\]", text)  # two segments
    opcode, data = ws.recv_data(control_frame=True)  # the server closes after session.closed
    assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1000


def test_every_frame_rtsync_sends_passes_the_sdk_client_types(local_server, sent_frames):
    _, ga_client, _, tr_client = sdk_types()
    with Transcriber(url=local_server.url, dialect="ga") as tr:
        tr.transcribe(tone(0.5))
    ga_frames, sent_frames[:] = list(sent_frames), []
    Translator(url=local_server.url + "/translations").translate(tone(0.5))
    assert ga_frames and sent_frames
    for text in ga_frames:
        ga_client.validate_python(json.loads(text))
    for text in sent_frames:
        tr_client.validate_python(json.loads(text))


@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")
def test_the_sdk_translation_client_against_the_local_server(local_server):
    openai = pytest.importorskip("openai")
    pytest.importorskip("websockets")
    client = openai.OpenAI(api_key="sk-local", websocket_base_url=f"ws://127.0.0.1:{local_server.port}/v1")
    if not hasattr(client.realtime, "translations"):  # pragma: no cover - depends on the installed SDK
        pytest.skip(f"openai {openai.__version__} has no realtime.translations client")
    audio = np.concatenate([tone(0.9), silence(1.0)])
    with client.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        conn.send({"type": "session.update", "session": {"audio": {"output": {"language": "es"}}}})
        for i in range(0, len(audio), CHUNK_SAMPLES):
            conn.send({"type": "session.input_audio_buffer.append",
                       "audio": base64.b64encode(audio[i:i + CHUNK_SAMPLES].tobytes()).decode()})
        conn.send({"type": "session.close"})
        events = list(conn)
    kinds = [ev.type for ev in events]
    assert kinds[:2] == ["session.created", "session.updated"] and kinds[-1] == "session.closed"
    assert events[1].session.audio.output.language == "es"
    text = "".join(ev.delta for ev in events if ev.type == "session.output_transcript.delta")
    assert text == "[es] [speech 0.9 s]"
    assert sum(len(base64.b64decode(ev.delta)) for ev in events if ev.type == "session.output_audio.delta") > 0


# -- the command line and the WAV example --------------------------------------------------------------

def run(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def test_cli_transcribe_a_file_with_the_local_server(tmp_path):
    path = tmp_path / "in.wav"
    write_wav(path, tone(1.3), RATE)
    out = run(["-m", "rtsync", "transcribe", str(path)])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("No OPENAI_API_KEY and no --url: transcribing with the local server")
    assert lines[1] == "[speech 1.3 s]"


def test_cli_transcribe_against_a_given_url(local_server, tmp_path):
    path = tmp_path / "in.wav"
    write_wav(path, tone(0.7), RATE)
    out = run(["-m", "rtsync", "transcribe", "--url", local_server.url, str(path)])
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[speech 0.7 s]"]


def test_cli_translate_saves_the_speech(tmp_path):
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    write_wav(src, np.concatenate([tone(1.0), silence(0.5)]), RATE)
    out = run(["-m", "rtsync", "translate", "--to", "es", str(src), "--out", str(dst)])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "translating with the local server" in lines[0]
    assert lines[1:3] == ["source: [speech 1.0 s]", "es: [es] [speech 1.0 s]"]
    samples, rate = read_wav(dst)
    assert rate == RATE and np.array_equal(samples, speak("speech 1.0 seconds", "es"))


def test_cli_needs_a_file_or_the_microphone():
    out = run(["-m", "rtsync", "translate", "--to", "es"])
    assert out.returncode == 2 and "FILE or --mic" in out.stderr


def test_translate_wav_example(tmp_path):
    src, dst = tmp_path / "hello.wav", tmp_path / "hola.wav"
    write_wav(src, np.concatenate([silence(0.4), tone(1.6), silence(0.4)]), RATE)
    out = run(["examples/translate_wav.py", str(src), str(dst), "--to", "es"])
    assert out.returncode == 0, out.stderr
    assert "[es] [speech" in out.stdout and "local server" in out.stdout
    samples, rate = read_wav(dst)
    assert rate == RATE and len(samples) > RATE // 2



def test_an_unknown_translation_model_is_refused_at_connect(local_server):
    from rtsync import ModelNotFoundError

    tr = Translator(url=local_server.url + "/translations", model="gpt-realtime")
    with pytest.raises(ModelNotFoundError):
        tr.connect()
    assert not tr.is_open


def test_translator_callbacks_run_on_the_pumping_thread(local_server):
    tr = Translator(url=local_server.url + "/translations", language="pt", dispatch="pump")
    threads: set[int] = set()
    text: list[str] = []
    tr.on("*", lambda ev: threads.add(threading.get_ident()))
    tr.on("session.output_transcript.delta", lambda ev: text.append(ev.delta))
    with tr:
        tr.send_audio(np.concatenate([tone(0.8), silence(1.0)]))
        deadline = time.monotonic() + 10
        while "".join(text) != "[pt] [speech 0.8 s]" and time.monotonic() < deadline:
            tr.dispatch_pending()
            time.sleep(0.01)
        assert tr.session.language == "pt"  # session.updated was delivered by the pump too
        with pytest.raises(RuntimeError):
            tr.translate(tone(0.5))  # blocking needs dispatch="thread"
    assert "".join(text) == "[pt] [speech 0.8 s]"
    assert threads == {threading.get_ident()}


def test_off_removes_a_callback_before_and_after_connect(local_server):
    seen: list = []
    tr = Transcriber(url=local_server.url)
    tr.on("conversation.item.input_audio_transcription.completed", seen.append)
    assert tr.off("conversation.item.input_audio_transcription.completed", seen.append) == 1
    with tr:
        tr.on("conversation.item.input_audio_transcription.completed", seen.append)
        tr.off("conversation.item.input_audio_transcription.completed")
        assert tr.transcribe(tone(0.5)) == "[speech 0.5 s]"
    assert seen == []
