"""A long-melody VAE stacked on a short one: the 16-bar model, trainable on a CPU.

MusicVAE's 16-bar model (Roberts et al. 2018, section 3.2) has a "conductor" LSTM that turns
the code z into one embedding per bar, and a bottom decoder that plays each bar from its
embedding. Trained end to end that takes days of a GPU; on a laptop CPU it did not get past
a per-bar language model in an hour. Here the bottom level is a trained 2-bar model
(``MelodyVAE``, e.g. the shipped ``melody-2bar``), kept as it is:

- encoder: the 2-bar encoder gives the mean code of each 2-bar segment; a bidirectional
  LSTM over those codes gives q(z|x) = N(mu, sigma^2) of the whole melody;
- decoder: the conductor LSTM turns z into one 2-bar code per segment, and the 2-bar decoder
  plays each segment from its code, afresh, as MusicVAE's bottom decoder plays each bar.

Seams. A segment played afresh begins with a note-on even where the melody holds a note
over the seam (the 2-bar model learnt windows that way, see ``split_segments``), and the
2-bar codes cannot tell a tie from the same pitch struck again (in the corpus the second is
13 times as common). So the top level carries it (``seam_ties``): the encoder reads, with
each segment's code, whether a note is tied into it, and the conductor predicts that flag
for each seam; a predicted tie holds the note on instead of striking it again
(``carry_seams``). The prediction is learnt only at the seams where the segment begins
with the pitch that sounds (``seam_repeats``), the only ones where a tie changes anything
(there about 1 tie in 14, against 1 in 70 over all seams), and weighted so that the code z
carries it (``StackedTrainConfig.tie_weight``). The ties lie along directions of little
variance, so the prior's principal subspace (``prior.py``) is widened by the directions in
which the encoder writes them (``prior_directions``); without them no drawn melody held a
note over a seam, with them 0.93% of seams against 0.83% in held-out melodies.

So the conductor's embedding covers two bars, not one, and lives in the 2-bar model's code
space. Training fits only the top level, in that code space: each segment's predicted code
should fall where the 2-bar encoder's posterior N(mu_s, sigma_s^2) puts that segment, i.e.
the loss is the Gaussian negative log-likelihood sum ((c - mu_s)^2 / 2 sigma_s^2) plus the
KL of z, which costs a fraction of running the note-level decoders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from museforge.core.checkpoints import Pretrained, load_model
from museforge.music.attributes import ATTRIBUTES
from museforge.music.melody import FIRST_NOTE_ON, NO_EVENT, last_event
from museforge.music.model import MelodyVAE, MelodyVAEConfig, _lstm_state
from museforge.music.prior import PRIOR_BUFFERS, FittedPrior

TIE_DIRECTIONS = 8  # of the code, added to the prior's subspace (measured: 4 / 8 / 16 gave
# 0.64% / 0.95% / 0.81% of drawn seams tied, 0.970 / 0.973 / 0.967 of notes in key)


@dataclass
class StackedMelodyVAEConfig:
    bars: int = 16  # the window; a whole number of segments
    segment: MelodyVAEConfig = field(default_factory=MelodyVAEConfig)  # the 2-bar model's
    z_dim: int = 256  # MusicVAE 16-bar: 512
    enc_hidden: int = 256  # per direction, over segment codes
    conductor_hidden: int = 256  # MusicVAE: 1024
    conductor_layers: int = 2  # MusicVAE: 2
    seam_ties: bool = False  # the top level reads and predicts ties over seams (see above)

    def __post_init__(self) -> None:
        if self.bars < 1 or self.bars % self.segment.bars:
            raise ValueError(
                f"bars ({self.bars}) must be a whole number of {self.segment.bars}-bar segments"
            )

    @property
    def steps_per_bar(self) -> int:
        return self.segment.steps_per_bar


class StackedMelodyVAE(nn.Module, Pretrained, FittedPrior):
    """A VAE over the codes of a trained short-melody VAE (``segment``), kept frozen."""

    config_class = StackedMelodyVAEConfig
    model_type = "melody-vae-stacked"
    optional_buffers = PRIOR_BUFFERS  # the 2-bar segment model's, in folders saved before

    def __init__(self, config: StackedMelodyVAEConfig) -> None:
        super().__init__()
        self.config = c = config
        self.segment = MelodyVAE(c.segment)
        code = c.segment.z_dim
        reads = code + int(c.seam_ties)  # with the seam's tie flag
        self.encoder = nn.LSTM(reads, c.enc_hidden, 1, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * c.enc_hidden, c.z_dim)
        self.to_logvar = nn.Linear(2 * c.enc_hidden, c.z_dim)
        self.conductor_init = nn.Linear(c.z_dim, 2 * c.conductor_layers * c.conductor_hidden)
        self.conductor = nn.LSTM(1, c.conductor_hidden, c.conductor_layers, batch_first=True)
        self.to_code = nn.Linear(c.conductor_hidden, code)
        if c.seam_ties:
            self.to_tie = nn.Linear(c.conductor_hidden, 1)
        self.register_buffer("attribute_vectors", torch.zeros(len(ATTRIBUTES), c.z_dim))
        self.register_prior(c.z_dim)  # fitted to the training melodies' codes (prior.py)

    @property
    def steps(self) -> int:
        return self.config.bars * self.config.steps_per_bar

    @property
    def segment_steps(self) -> int:
        return self.segment.steps

    # --- q(z|x) -------------------------------------------------------------------------

    def segment_posteriors(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, log sigma^2) of each segment's 2-bar code: [B, segments, code] each."""
        batch = x.shape[0]
        segments = split_segments(x, self.segment_steps)
        mu, logvar = self.segment.encode(segments.reshape(-1, self.segment_steps))
        return mu.reshape(batch, -1, mu.shape[-1]), logvar.reshape(batch, -1, mu.shape[-1])

    def encode_codes(self, codes: Tensor, ties: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Segment codes [B, S, code] (and, with ``seam_ties``, tie flags [B, S]) ->
        (mu, log sigma^2) of q(z|x), each [B, z_dim]."""
        if self.config.seam_ties:
            ties = codes.new_zeros(codes.shape[:2]) if ties is None else ties.to(codes)
            codes = torch.cat([codes, ties[..., None]], dim=-1)
        _, (h, _) = self.encoder(codes)
        final = torch.cat([h[-2], h[-1]], dim=-1)
        return self.to_mu(final), self.to_logvar(final)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Events [B, T] (whole segments) -> (mu, log sigma^2) of q(z|x), each [B, z_dim]."""
        with torch.no_grad():
            codes, _ = self.segment_posteriors(x)
        return self.encode_codes(codes, seam_ties(x, self.segment_steps))

    def prior_directions(self, windows: Tensor, batch_size: int) -> Tensor | None:
        """The ``TIE_DIRECTIONS`` principal directions of what the seam ties add to the codes
        of ``windows`` (each window with ties encoded with and without them): [k, z_dim]."""
        if not self.config.seam_ties:
            return None
        moved = []
        with torch.no_grad():
            for chunk in windows.split(batch_size):
                ties = seam_ties(chunk, self.segment_steps)
                keep = ties.sum(dim=1) > 0
                if keep.any():
                    codes, _ = self.segment_posteriors(chunk[keep])
                    tied = self.encode_codes(codes, ties[keep])[0]
                    moved.append(tied - self.encode_codes(codes, torch.zeros_like(ties[keep]))[0])
        if not moved:
            return None
        moved = torch.cat(moved).double()
        return torch.linalg.svd(moved, full_matrices=False)[2][:TIE_DIRECTIONS]

    # --- p(x|z) -------------------------------------------------------------------------

    def conduct(self, z: Tensor, segments: int) -> tuple[Tensor, Tensor | None]:
        """The conductor's 2-bar code for each segment [B, segments, code], and the logit of
        a note tied into each segment [B, segments] (None without ``seam_ties``)."""
        c = self.config
        state = _lstm_state(self.conductor_init(z), c.conductor_layers, c.conductor_hidden)
        out, _ = self.conductor(z.new_zeros(z.shape[0], segments, 1), state)
        return self.to_code(out), self.to_tie(out)[..., 0] if c.seam_ties else None

    def codes(self, z: Tensor, segments: int) -> Tensor:
        """The conductor's 2-bar code for each segment: [B, segments, code]."""
        return self.conduct(z, segments)[0]

    def ties(self, z: Tensor, segments: int, temperature: float = 0.0, generator=None) -> Tensor:
        """Whether a note is tied into each segment [B, segments] (bool): the likelier answer
        at temperature 0, else drawn; all False without ``seam_ties``."""
        _, logits = self.conduct(z, segments)
        if logits is None:
            return torch.zeros(z.shape[0], segments, dtype=torch.bool, device=z.device)
        if temperature == 0:
            return logits > 0
        odds = torch.sigmoid(logits / temperature)
        return torch.rand(odds.shape, generator=generator).to(odds) < odds

    def forward(self, x: Tensor, z: Tensor, teacher_forcing_prob: float = 1.0) -> Tensor:
        """Logits [B, T, classes] for events x [B, T] given z; T need not fill a segment."""
        batch, steps = x.shape
        length = self.segment_steps
        segments = -(-steps // length)
        padded = torch.cat([x, x.new_zeros(batch, segments * length - steps)], dim=1)
        codes = self.codes(z, segments).reshape(batch * segments, -1)
        pieces = split_segments(padded, length).reshape(batch * segments, length)
        logits = self.segment(pieces, codes, teacher_forcing_prob)
        return logits.reshape(batch, segments * length, -1)[:, :steps]

    @torch.no_grad()
    def decode(
        self,
        z: Tensor,
        steps: int | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        prefix: Tensor | None = None,
        top_p: float = 1.0,
    ) -> Tensor:
        """Events [B, steps] played from z, segment by segment (as ``MelodyVAE.decode``)."""
        steps = self.steps if steps is None else steps
        length = self.segment_steps
        segments = -(-steps // length)
        if prefix is not None:
            prefix = prefix.to(z.device).long().expand(z.shape[0], -1)
        codes = self.codes(z, segments)
        played = []
        for s in range(segments):
            given = None
            if prefix is not None and prefix.shape[1] > s * length:
                given = prefix[:, s * length : (s + 1) * length]
            played.append(
                self.segment.decode(
                    codes[:, s], length, temperature, generator, prefix=given, top_p=top_p
                )
            )
        ties = self.ties(z, segments, temperature, generator)
        events = carry_seams(torch.cat(played, dim=1), length, ties)
        if prefix is not None:  # the given events stand as they are, seams included
            given = min(prefix.shape[1], events.shape[1])
            events[:, :given] = prefix[:, :given]
        return events[:, :steps]


def carry_seams(events: Tensor, length: int, ties: Tensor, history: Tensor | None = None) -> Tensor:
    """Events [B, T] whose segments of ``length`` steps were played one by one: where
    ``ties`` [B, segments] says a note is tied into a segment, a note sounds before the seam
    and the segment begins with a note-on, the sounding note is held on (``NO_EVENT``)
    instead: the inverse of ``split_segments``. The 2-bar model plays a tied note's
    continuation as a note-on of its pitch; where it plays another pitch there, the tie is
    trusted over it (rebuilding held-out melodies with melody-16bar: 86% of tied seams held
    against 32% when the pitches had to agree, 0.53% of the other seams held against 0.27%,
    greedy accuracy 0.8891 against 0.8890). What sounds before a seam is read from
    ``history`` [B, T] when given (the true melody, for teacher-forced predictions), else
    from ``events`` as carried so far.
    """
    events = events.clone()
    steps = events.shape[1]
    for seam in range(length, steps, length):
        past = (events if history is None else history)[:, :seam]
        before = torch.from_numpy(last_event(past.cpu().numpy())[:, -1]).to(events.device)
        first = events[:, seam]
        tied = ties[:, seam // length].to(events.device)
        carried = tied & (first >= FIRST_NOTE_ON) & (before >= FIRST_NOTE_ON)
        events[carried, seam] = NO_EVENT
    return events


def seam_ties(x: Tensor, length: int) -> Tensor:
    """1.0 where a note of ``x`` [B, T] is tied into a segment of ``length`` steps (it sounds
    at the end of the segment before and the segment begins with no event), else 0.0:
    [B, T / length]; the first segment has nothing tied into it."""
    starts, before = _seams(x, length)
    ties = x.new_zeros(x.shape[0], -(-x.shape[1] // length), dtype=torch.float32)
    ties[:, 1:] = ((starts == NO_EVENT) & (before >= FIRST_NOTE_ON)).float()
    return ties


def seam_repeats(x: Tensor, length: int) -> Tensor:
    """1.0 where a segment of ``length`` steps, played on its own (``split_segments``),
    begins with a note-on of the pitch sounding at the end of the segment before: a note
    tied over the seam, or the same pitch struck again. Only there does a tie change what is
    played (``carry_seams``), so only there is the conductor taught to predict one:
    [B, T / length], the first segment 0.0."""
    starts, before = _seams(x, length)
    repeats = x.new_zeros(x.shape[0], -(-x.shape[1] // length), dtype=torch.float32)
    on = (starts == NO_EVENT) | (starts == before)  # held on, or struck again
    repeats[:, 1:] = (on & (before >= FIRST_NOTE_ON)).float()
    return repeats


def split_segments(x: Tensor, length: int) -> Tensor:
    """Events [B, T] -> [B, T / length, length], each segment playable on its own.

    A segment that begins while a note of the segment before is held begins with that
    note's note-on, as the short model's training windows do.
    """
    batch, steps = x.shape
    if steps % length:
        raise ValueError(f"{steps} steps are not whole segments of {length}")
    segments = x.reshape(batch, steps // length, length).clone()
    starts, before = _seams(x, length)
    held = (starts == NO_EVENT) & (before >= FIRST_NOTE_ON)
    segments[:, 1:, 0] = torch.where(held, before, starts)
    return segments


def _seams(x: Tensor, length: int) -> tuple[Tensor, Tensor]:
    """At each seam of ``x`` [B, T] cut into segments of ``length`` steps: the event the
    segment after it begins with, and what sounds at the last step of the segment before
    (``melody.last_event``): [B, seams] each."""
    state = torch.from_numpy(last_event(x.cpu().numpy())).to(x.device)
    return x[:, length::length], state[:, length - 1 : -1 : length]


def load_melody_vae(name_or_path: str | Path) -> MelodyVAE | StackedMelodyVAE:
    """A melody model folder (or shipped name), flat or stacked alike."""
    return load_model(name_or_path, (MelodyVAE, StackedMelodyVAE), "a melody model")
