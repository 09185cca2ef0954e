"""Evaluation data for Silero VAD: synthetic speech and non-speech audio, made here with numpy.

Usage: python eval.py OUTDIR    (writes OUTDIR/eval.npz)

No recording of real speech ships in a Python package we may use, and a text-to-speech program
(espeak-ng) is not guaranteed on CI, so the speech here is *synthesised*: a small formant
synthesiser (a glottal pulse train through three time-varying formant resonators, with
fricative and burst noise) speaks random consonant-vowel syllables with stress, intonation and
pauses, at voice pitches from 95 to 250 Hz, over silence or background noise. The non-speech
audio is noise of several colours and levels, pure tones, a chord, synthetic plucked-string
melodies, a frequency sweep, mains hum, clicks and an unarticulated glottal buzz. The metrics
therefore say how well the model separates speech-like from other sounds in this synthetic
set; they are not a measurement on real recordings (Silero's authors publish those).

How a sample is made. The model is streaming: each call takes one 32 ms frame of 16 kHz audio
(512 samples) preceded by the last 64 samples of the previous frame (576 in all), plus the
recurrent state the previous call returned. Each scene (2-3 s) is run from a zero state,
frame after frame, through the model itself (onnxruntime on the wheel's silero_vad.onnx, the
file the recipe publishes); for every frame the script stores the 576-sample input and the
state *before* that frame. Running the model once on all stored frames with their states
then gives exactly the probabilities of the streaming run. The script checks this against
silero_vad's own OnnxWrapper when the package is importable.

Arrays in eval.npz (the model's inputs, in its own layout):
  input.input  float32 [N, 576]      context + frame, samples in [-1, 1];
  input.state  float32 [2, N, 128]   recurrent state before each frame (batch on axis 1);
  input.sr     int64   []            16000 (a scalar);
  target       int64   [N]           1 = speech, 0 = no speech.
Frames within 0.25 s after a speech onset or 0.4 s after a speech offset, and the first
0.3 s of every scene, are left out: their correct answer is ambiguous (the model needs a few
frames to react and deliberately holds its decision through short pauses).
A frame counts as detected speech when the output probability is at least 0.5 (Silero's
default threshold).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

SR = 16000
FRAME = 512
CONTEXT = 64
STEP = 80  # synthesiser control rate: 5 ms
SEED = 20240501
ONSET_SKIP = 0.25
OFFSET_SKIP = 0.4
START_SKIP = 0.3

# Formant frequencies (Hz) of some English vowels (Peterson & Barney averages).
VOWELS = {
    "a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240), "e": (530, 1840, 2480),
    "o": (570, 840, 2410), "ae": (660, 1720, 2410), "er": (490, 1350, 1690), "ih": (390, 1990, 2550),
    "uh": (520, 1190, 2390),
}
# Consonants: kind, voiced, formant locus (stops, nasals, liquids) or noise band (fricatives).
CONSONANTS = {
    "b": ("stop", True, (200, 900, 2300)), "d": ("stop", True, (200, 1700, 2700)),
    "g": ("stop", True, (200, 2000, 2500)), "p": ("stop", False, (200, 900, 2300)),
    "t": ("stop", False, (200, 1700, 2700)), "k": ("stop", False, (200, 2000, 2500)),
    "s": ("fricative", False, (4000, 7900)), "sh": ("fricative", False, (2000, 5000)),
    "f": ("fricative", False, (1000, 7500)), "z": ("fricative", True, (4000, 7900)),
    "m": ("nasal", True, (250, 1000, 2200)), "n": ("nasal", True, (250, 1700, 2600)),
    "l": ("liquid", True, (350, 1050, 2900)), "r": ("liquid", True, (350, 1100, 1500)),
    "w": ("liquid", True, (300, 700, 2200)), "y": ("liquid", True, (280, 2200, 3000)),
}


# --- speech synthesis -------------------------------------------------------------------------

def _utterance_plan(rng: np.random.Generator, syllables: int, f0: float) -> np.ndarray:
    """Control tracks every 5 ms: f0, voicing amplitude, noise amplitude, F1-F3, noise band."""
    rows: list[list[float]] = []

    def hold(n: int, formants, voicing: float, noise: float, band=(0.0, 0.0)) -> None:
        rows.extend([[0.0, voicing, noise, *formants, *band] for _ in range(n)])

    for _ in range(syllables):
        kind, voiced, par = CONSONANTS[rng.choice(list(CONSONANTS))]
        vowel = VOWELS[rng.choice(list(VOWELS))]
        stressed = rng.random() < 0.35
        if kind == "stop":
            hold(int(rng.uniform(10, 16)), par, 0.08 if voiced else 0.0, 0.0)  # closure
            hold(3, par, 0.0, 0.6, (1500, 6000))  # release burst
            if not voiced:
                hold(int(rng.uniform(6, 10)), par, 0.0, 0.15, (500, 5000))  # aspiration
            start = par
        elif kind == "fricative":
            hold(int(rng.uniform(16, 26)), vowel, 0.15 if voiced else 0.0, 0.35, par)
            start = vowel
        elif kind == "nasal":
            hold(int(rng.uniform(10, 16)), par, 0.35, 0.0)
            start = par
        else:
            hold(int(rng.uniform(8, 12)), par, 0.6, 0.0)
            start = par
        length = int(rng.uniform(16, 30) * (1.4 if stressed else 1.0))
        for i in range(length):
            w = min(1.0, (i + 1) / min(10, length))  # formant transition from the consonant
            formants = [(1 - w) * a + w * b for a, b in zip(start, vowel)]
            amp = (1.0 if stressed else 0.7) * np.sin(np.pi * min(1.0, (i + 3) / (length + 3))) ** 0.3
            rows.append([0.0, amp, 0.0, *formants, 0.0, 0.0])
        if rng.random() < 0.25:
            hold(int(rng.uniform(4, 30)), vowel, 0.0, 0.0)  # short pause inside the phrase
    plan = np.array(rows)
    t = np.linspace(0.0, 1.0, len(plan))
    plan[:, 0] = f0 * (1.15 - 0.3 * t) * (1 + 0.06 * np.sin(2 * np.pi * t * syllables / 2.5 + rng.uniform(0, 6)))
    return plan


def _resonator(f: float, bw: float) -> tuple[np.ndarray, np.ndarray]:
    r = np.exp(-np.pi * bw / SR)
    a = np.array([1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r])
    return np.array([a.sum()]), a  # unity gain at 0 Hz


def _render(plan: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(plan) * STEP
    at = (np.arange(n) + 0.5) / STEP - 0.5
    frames = np.arange(len(plan))
    f0 = np.interp(at, frames, plan[:, 0]) * (1 + 0.005 * rng.standard_normal(n))
    voicing = np.interp(at, frames, plan[:, 1])
    noise_amp = np.interp(at, frames, plan[:, 2])
    phase = np.cumsum(f0 / SR) % 1.0
    open_q = 0.6  # Rosenberg glottal pulse
    flow = np.where(phase < open_q, 0.5 * (1 - np.cos(np.pi * phase / open_q)),
                    np.maximum(0.0, np.cos(np.pi * (phase - open_q) / (2 * (1 - open_q)))))
    source = np.diff(flow, prepend=0.0) * voicing * (1 + 0.05 * rng.standard_normal(n))
    source += 0.002 * voicing * rng.standard_normal(n)  # breathiness
    voiced = np.zeros(n)
    states = [np.zeros(2) for _ in range(5)]
    for k in range(len(plan)):
        part = slice(k * STEP, (k + 1) * STEP)
        y = source[part]
        f1, f2, f3 = plan[k, 3:6]
        for j, (f, bw) in enumerate(zip((f1, f2, f3, 3500.0, 4500.0), (60 + 0.05 * f1, 80, 110, 150, 200))):
            b, a = _resonator(f, bw)
            y, states[j] = lfilter(b, a, y, zi=states[j])
        voiced[part] = y
    voiced = lfilter([1.0, -0.97], [1.0], voiced)  # lip radiation
    noise = rng.standard_normal(n) * noise_amp
    hiss = np.zeros(n)
    for lo, hi in {tuple(row[6:8]) for row in plan if row[7] > 0}:
        mask = np.repeat(((plan[:, 6] == lo) & (plan[:, 7] == hi)).astype(float), STEP)
        hiss += sosfilt(butter(4, [lo, hi], btype="band", fs=SR, output="sos"), noise * mask)
    return voiced / (np.abs(voiced).max() + 1e-9) + 0.15 * hiss / (np.abs(hiss).max() + 1e-9)


def speech(rng: np.random.Generator, seconds: float, f0: float) -> np.ndarray:
    """Phrases of 4-8 random syllables separated by 50-200 ms pauses, peak level 1."""
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * SR:
        x = _render(_utterance_plan(rng, int(rng.integers(4, 9)), f0 * rng.uniform(0.9, 1.1)), rng)
        gap = np.zeros(int(rng.uniform(0.05, 0.2) * SR))
        parts += [x, gap]
        total += len(x) + len(gap)
    x = np.concatenate(parts)[: int(seconds * SR)]
    return x / np.abs(x).max()


# --- non-speech sounds ------------------------------------------------------------------------

def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SR)) / SR


def white(rng, seconds, level):
    return level * rng.standard_normal(int(seconds * SR))


def coloured(rng, seconds, level, pole):
    x = lfilter([1.0], [1.0, -pole], rng.standard_normal(int(seconds * SR)))
    return level * x / np.abs(x).max()


def pink(rng, seconds, level):
    # Paul Kellet's economy pink-noise filter.
    x = lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786], [1, -2.494956002, 2.017265875, -0.522189400],
                rng.standard_normal(int(seconds * SR)))
    return level * x / np.abs(x).max()


def tone(seconds, freq, level):
    return level * np.sin(2 * np.pi * freq * _t(seconds))


def chord(seconds, freqs, level):
    t = _t(seconds)
    return level * sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)


def plucked(rng, seconds, level, notes_per_second):
    """A melody of decaying harmonic notes (a crude plucked string)."""
    n = int(seconds * SR)
    out = np.zeros(n)
    step = int(SR / notes_per_second)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
    for start in range(0, n, step):
        f = rng.choice(scale)
        t = np.arange(min(step * 2, n - start)) / SR
        note = sum(np.sin(2 * np.pi * f * h * t) * 0.6 ** h for h in range(1, 6)) * np.exp(-t * 6)
        out[start:start + len(note)] += note
    return level * out / np.abs(out).max()


def sweep(seconds, f_lo, f_hi, level):
    t = _t(seconds)
    return level * np.sin(2 * np.pi * (f_lo * t + (f_hi - f_lo) * t ** 2 / (2 * seconds)))


def hum(seconds, base, level):
    t = _t(seconds)
    return level * sum(np.sin(2 * np.pi * base * h * t) / h for h in range(1, 6)) / 2.3


def clicks(seconds, per_second, level):
    x = np.zeros(int(seconds * SR))
    x[:: int(SR / per_second)] = level
    return x


def buzz(rng, seconds, f0, level):
    """A steady glottal pulse train with no vocal tract: no formants, no articulation."""
    n = int(seconds * SR)
    phase = np.cumsum(np.full(n, f0) * (1 + 0.005 * rng.standard_normal(n)) / SR) % 1.0
    x = np.diff(np.where(phase < 0.6, 0.5 * (1 - np.cos(np.pi * phase / 0.6)), 0.0), prepend=0.0)
    return level * x / np.abs(x).max()


# --- scenes -----------------------------------------------------------------------------------

def scenes(rng: np.random.Generator) -> list[tuple[str, np.ndarray, list[tuple[int, int]]]]:
    """(name, audio, speech intervals in samples)."""
    out = []

    def talk(name: str, f0: float, level: float, background) -> None:
        lead, middle, tail = 0.7, rng.uniform(1.4, 1.8), 0.8
        bg = background(lead + middle + tail)
        start, stop = int(lead * SR), int(lead * SR) + int(middle * SR)
        x = bg.copy()
        x[start:stop] += level * speech(rng, middle, f0)
        out.append((name, x, [(start, stop)]))

    talk("low male voice over silence", 95, 0.5, lambda s: np.zeros(int(s * SR)))
    talk("male voice over silence", 120, 0.3, lambda s: np.zeros(int(s * SR)))
    talk("female voice over silence", 210, 0.4, lambda s: np.zeros(int(s * SR)))
    talk("high voice over silence", 250, 0.6, lambda s: np.zeros(int(s * SR)))
    talk("quiet male voice over faint noise", 110, 0.08, lambda s: white(rng, s, 0.001))
    talk("female voice over white noise (about 20 dB SNR)", 190, 0.3, lambda s: white(rng, s, 0.01))
    talk("male voice over pink noise", 130, 0.4, lambda s: pink(rng, s, 0.03))
    talk("voice over brown noise", 160, 0.4, lambda s: coloured(rng, s, 0.05, 0.995))
    talk("voice over mains hum", 140, 0.4, lambda s: hum(s, 50, 0.05))
    talk("voice over a quiet chord", 230, 0.4, lambda s: chord(s, (261.6, 329.6, 392.0), 0.03))
    talk("child-like voice over faint noise", 245, 0.35, lambda s: white(rng, s, 0.002))
    talk("loud male voice over silence", 105, 0.9, lambda s: np.zeros(int(s * SR)))

    def other(name: str, x: np.ndarray) -> None:
        out.append((name, x, []))

    other("digital silence", np.zeros(int(2.5 * SR)))
    other("faint white noise", white(rng, 2.5, 0.002))
    other("loud white noise", white(rng, 2.5, 0.2))
    other("pink noise", pink(rng, 2.5, 0.3))
    other("brown noise (rumble)", coloured(rng, 2.5, 0.3, 0.995))
    other("440 Hz tone", tone(2.5, 440, 0.3))
    other("1 kHz tone", tone(2.5, 1000, 0.3))
    other("C major chord", chord(2.5, (261.6, 329.6, 392.0), 0.4))
    other("plucked melody, 4 notes/s", plucked(rng, 2.5, 0.4, 4))
    other("plucked melody, 8 notes/s", plucked(rng, 2.5, 0.4, 8))
    other("sweep 100 Hz - 4 kHz", sweep(2.5, 100, 4000, 0.3))
    other("50 Hz mains hum", hum(2.5, 50, 0.3))
    other("clicks, 5 per second", clicks(2.5, 5, 0.8))
    other("steady 150 Hz glottal buzz", buzz(rng, 2.5, 150, 0.3))
    return out


# --- frames, states and labels ----------------------------------------------------------------

def _label(frame: int, length: int, intervals: list[tuple[int, int]]) -> int | None:
    """1 inside speech, 0 outside, None where the answer is ambiguous (left out)."""
    lo, hi = frame * FRAME, (frame + 1) * FRAME
    if lo < START_SKIP * SR:
        return None
    for start, stop in intervals:
        if lo >= start + ONSET_SKIP * SR and hi <= stop:
            return 1
        if hi > start and lo < stop + OFFSET_SKIP * SR:
            return None
    return 0


def main(outdir: Path) -> int:
    import onnxruntime as ort
    from importlib.resources import as_file, files

    rng = np.random.default_rng(SEED)
    with as_file(files("silero_vad").joinpath("data/silero_vad.onnx")) as path:
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    sr = np.array(SR, dtype=np.int64)
    inputs, states, targets, probs = [], [], [], []
    summary = []
    for name, audio, intervals in scenes(rng):
        audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
        state = np.zeros((2, 1, 128), dtype=np.float32)
        context = np.zeros(CONTEXT, dtype=np.float32)
        scene_probs = []
        for k in range(len(audio) // FRAME):
            x = np.concatenate([context, audio[k * FRAME:(k + 1) * FRAME]])[None, :]
            label = _label(k, len(audio), intervals)
            if label is not None:
                inputs.append(x[0])
                states.append(state[:, 0, :])
                targets.append(label)
            out, state = session.run(None, {"input": x, "state": state, "sr": sr})
            if label is not None:
                probs.append(float(out[0, 0]))
            scene_probs.append(float(out[0, 0]))
            context = x[0, -CONTEXT:]
        _check_against_silero(audio, np.array(scene_probs))
        summary.append((name, intervals != [], float(np.mean(np.array(scene_probs) >= 0.5))))

    x = np.stack(inputs).astype(np.float32)
    state = np.stack(states, axis=1).astype(np.float32)
    y = np.array(targets, dtype=np.int64)
    outdir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(outdir / "eval.npz", **{"input.input": x, "input.state": state, "input.sr": sr, "target": y})

    predicted = (np.array(probs) >= 0.5).astype(np.int64)
    for name, has_speech, share in summary:
        print(f"  {'speech' if has_speech else 'other ':6} {share:5.0%} of frames >= 0.5  {name}")
    print(f"eval.npz: {len(y)} frames ({int(y.sum())} speech, {int((1 - y).sum())} not) from {len(summary)} scenes; "
          f"streaming accuracy at 0.5: {np.mean(predicted == y):.4f}")
    return 0


def _check_against_silero(audio: np.ndarray, ours: np.ndarray) -> None:
    """Our frame/context/state handling must give the probabilities silero_vad's own wrapper gives."""
    try:
        import torch
        from silero_vad import load_silero_vad
    except ImportError:
        return
    model = load_silero_vad(onnx=True)
    theirs = model.audio_forward(torch.from_numpy(audio), SR).numpy()[0, : len(ours)]
    if not np.allclose(theirs, ours, atol=1e-6):
        raise SystemExit(f"error: frame probabilities differ from silero_vad's OnnxWrapper by "
                         f"{np.max(np.abs(theirs - ours)):.2e}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python eval.py OUTDIR")
    sys.exit(main(Path(sys.argv[1])))
