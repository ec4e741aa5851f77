"""PortAudio devices: :class:`Microphone`, :class:`Speaker` and :func:`list_devices`.

This module gathers the device API under its documented import path; each part lives in a
module of its own:

* :mod:`rtsync.audio.portaudio` — loading PyAudio, :func:`list_devices`, :class:`DeviceInfo`,
  device selection, and keeping the C libraries' probe noise off the terminal.
* :mod:`rtsync.audio.stream` — what both streams share: opening, rate negotiation,
  start/stop/close.
* :mod:`rtsync.audio.microphone` — :class:`Microphone`.
* :mod:`rtsync.audio.speaker` — :class:`Speaker`.
* :mod:`rtsync.audio.playout` — :class:`~rtsync.audio.playout.Playout`, the speaker's
  playout state machine (prebuffer, underruns, fade-out on interrupt, end of stream), pure.

Both device classes run a PyAudio *callback* stream of mono int16 samples. PortAudio calls
the callback on its own real-time thread; the callback only copies samples between
PortAudio's buffer and a lock-free :class:`~rtsync.audio.ringbuffer.RingBuffer`, and your
code talks to the ring buffer from ordinary threads. The API, by group:

* Discovery: :func:`list_devices` -> list of :class:`DeviceInfo`.
* Input: :class:`Microphone` (``read``, ``read_block``, ``available``, ``level``, counters).
* Output: :class:`Speaker` (``write``, ``interrupt``, ``end_of_stream``,
  ``wait_until_drained``, counters such as ``played_samples`` and ``underruns``).

PyAudio is imported the first time one of these is used, never when :mod:`rtsync.audio` is
imported, so programs without sound need no PortAudio. When it is missing, an
:class:`~rtsync.errors.AudioError` says what to install.

Each :class:`Microphone` and :class:`Speaker` owns one ``pyaudio.PyAudio`` instance (created
in ``__init__``, terminated by ``close()``), so objects can be opened and closed
independently from different threads. PortAudio probes every device when a ``PyAudio`` is
created; on Linux the ALSA and JACK libraries print what they find on stderr, and rtsync
keeps that off the terminal (it goes to the ``rtsync`` logger at DEBUG level).

Device selection: ``device=None`` picks PortAudio's default device for the direction, an
``int`` is a PortAudio device index, a ``str`` is matched against device names (exact name
first, then a case-insensitive substring), and a :class:`DeviceInfo` is used by its index.

Sample rates: the streams are opened at ``rate`` (24 kHz by default, the Realtime API's
pcm16 rate). When the device refuses that rate, the stream is opened at the device's
default rate instead and rtsync converts between the two rates *outside* the callback: the
microphone in :meth:`Microphone.read`, the speaker in :meth:`Speaker.write`. ``device_rate=``
forces a particular device rate.
"""

from __future__ import annotations

from rtsync.audio.microphone import Microphone
from rtsync.audio.portaudio import DeviceInfo, list_devices
from rtsync.audio.speaker import Speaker

__all__ = ["DeviceInfo", "Microphone", "Speaker", "list_devices"]
