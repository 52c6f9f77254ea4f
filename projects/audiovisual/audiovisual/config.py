"""The project's own config nodes; slowvid's defaults are not edited."""

from fvcore.common.config import CfgNode


def add_config(cfg: CfgNode) -> None:
    """Add the AUDIO (input) and AVSLOWFAST (model) nodes to ``cfg`` before any yaml merges."""
    cfg.AUDIO = CfgNode()
    # Samples per second the audio track is resampled to.
    cfg.AUDIO.SAMPLE_RATE = 16000
    # FFT size of the STFT (>= the window, in samples).
    cfg.AUDIO.N_FFT = 512
    # Hann window length in milliseconds (25 ms = 400 samples at 16 kHz).
    cfg.AUDIO.WINDOW_MS = 25.0
    # Hop between spectrogram frames in milliseconds (10 ms: 100 frames a second).
    cfg.AUDIO.HOP_MS = 10.0
    # Mel bands (HTK mel scale over 0 .. SAMPLE_RATE / 2).
    cfg.AUDIO.N_MELS = 64
    # A video without an audio track: "silence" (per-file warning, silent spectrogram) or
    # "skip" (treated like an undecodable video: replaced in training, dropped in evaluation).
    cfg.AUDIO.MISSING = "silence"

    cfg.AVSLOWFAST = CfgNode()
    # Ablation: "av" (slow, fast and audio pathways), "visual" (SlowFast only; the audio
    # input is ignored) or "audio" (audio pathway only; the clips are ignored).
    cfg.AVSLOWFAST.MODE = "av"
    # Audio pathway widths are the slow pathway's divided by this.
    cfg.AVSLOWFAST.AUDIO_WIDTH_DIVISOR = 2
    # Stages (2..5 = res2..res5) after which audio features are added into the slow pathway;
    # [] leaves only late fusion in the head.
    cfg.AVSLOWFAST.FUSION_STAGES = [3, 4]
