"""The melody VAE of MusicVAE (Roberts et al. 2018, "A Hierarchical Latent Vector Model
for Learning Long-Term Structure in Music"), small enough to train on a laptop CPU.

Encoder: event embeddings -> bidirectional LSTM -> its final states -> mu and log sigma^2
of the posterior q(z|x) = N(mu, sigma^2). Decoder: an autoregressive LSTM whose initial
state is tanh(Linear(z)) and whose input at each step is the previous event's embedding
concatenated with z (MusicVAE's flat 2-bar melody model). Long melodies stack a conductor
on a trained short model instead (``stacked.py``): MusicVAE's end-to-end hierarchical
decoder did not train in hours on a CPU, so museforge does not carry it.

Events are the 90 classes of ``melody.py`` (no event, note-off, 88 note-ons).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from museforge.core.checkpoints import Pretrained
from museforge.music.attributes import ATTRIBUTES
from museforge.music.melody import NUM_CLASSES, STEPS_PER_QUARTER
from museforge.music.prior import PRIOR_BUFFERS, FittedPrior

LSTMState = tuple[Tensor, Tensor]


@dataclass
class MelodyVAEConfig:
    # Fields of model folders saved before the end-to-end hierarchical decoder was dropped,
    # read and ignored when they hold these values (see ``checkpoints._from_dict``).
    RETIRED_FIELDS: ClassVar[dict[str, object]] = {
        "hierarchical": False,
        "conductor_hidden": None,
        "conductor_layers": None,
    }

    bars: int = 2  # MusicVAE's flat melody model: 2 bars
    steps_per_bar: int = 4 * STEPS_PER_QUARTER  # a 4/4 bar of 16th notes, as in the data
    num_classes: int = NUM_CLASSES  # 90 melody events
    embed_dim: int = 64  # MusicVAE feeds one-hot events; an embedding is the same, cheaper
    enc_hidden: int = 256  # per direction; MusicVAE 2048, cut to train on 2 CPU cores
    enc_layers: int = 1  # MusicVAE: 1 layer (2-bar), 2 layers (16-bar)
    z_dim: int = 128  # MusicVAE: 512; folk tunes need less
    dec_hidden: int = 256  # MusicVAE: 2048 (2-bar), 1024 (16-bar bottom decoder)
    dec_layers: int = 2  # MusicVAE: 3 (2-bar), 2 (16-bar)


class MelodyVAE(nn.Module, Pretrained, FittedPrior):
    """MusicVAE's flat melody VAE over melody events; codes are drawn from a prior fitted to
    the training melodies' codes (``prior.py``), N(0, I) until it is fitted."""

    optional_buffers = PRIOR_BUFFERS

    config_class = MelodyVAEConfig
    model_type = "melody-vae"

    def __init__(self, config: MelodyVAEConfig) -> None:
        super().__init__()
        if config.bars < 1 or config.steps_per_bar < 1:
            raise ValueError("bars and steps_per_bar must be at least 1")
        self.config = config
        c = config
        self.start = c.num_classes  # the decoder's input before the first event
        self.enc_embed = nn.Embedding(c.num_classes, c.embed_dim)
        self.encoder = nn.LSTM(
            c.embed_dim, c.enc_hidden, c.enc_layers, batch_first=True, bidirectional=True
        )
        self.to_mu = nn.Linear(2 * c.enc_hidden, c.z_dim)
        self.to_logvar = nn.Linear(2 * c.enc_hidden, c.z_dim)
        self.dec_init = nn.Linear(c.z_dim, 2 * c.dec_layers * c.dec_hidden)
        self.dec_embed = nn.Embedding(c.num_classes + 1, c.embed_dim)
        self.decoder = nn.LSTM(c.embed_dim + c.z_dim, c.dec_hidden, c.dec_layers, batch_first=True)
        self.head = nn.Linear(c.dec_hidden, c.num_classes)
        # Attribute vectors (MusicVAE section 5.3), one row per attribute; filled after
        # training by ``generate.fit_attribute_vectors`` and saved with the weights.
        self.register_buffer("attribute_vectors", torch.zeros(len(ATTRIBUTES), c.z_dim))
        self.register_prior(c.z_dim)

    @property
    def steps(self) -> int:
        """The length of the windows the model was trained on."""
        return self.config.bars * self.config.steps_per_bar

    def transfer_parts(self) -> dict[str, list[nn.Module]]:
        """The parts ``--freeze`` and ``--lr-scale`` name (see ``core/transfer.py``)."""
        return {
            "encoder": [self.enc_embed, self.encoder, self.to_mu, self.to_logvar],
            "decoder": [self.dec_init, self.dec_embed, self.decoder, self.head],
        }

    # --- q(z|x) -------------------------------------------------------------------------

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Events [B, T] -> (mu, log sigma^2) of q(z|x), each [B, z_dim]."""
        _, (h, _) = self.encoder(self.enc_embed(x))
        final = torch.cat([h[-2], h[-1]], dim=-1)  # last layer, forward and backward
        return self.to_mu(final), self.to_logvar(final)

    # --- p(x|z) -------------------------------------------------------------------------

    def forward(self, x: Tensor, z: Tensor, teacher_forcing_prob: float = 1.0) -> Tensor:
        """Logits [B, T, num_classes] for the events x [B, T] given z [B, z_dim].

        With ``teacher_forcing_prob`` (tau) < 1 each step's input is, with that probability, the
        true previous event, otherwise one sampled from the model's own previous output
        (scheduled sampling, Bengio et al. 2015, as MusicVAE trains).
        """
        steps = x.shape[1]
        start = torch.full_like(x[:, :1], self.start)
        prev = torch.cat([start, x[:, :-1]], dim=1)
        state = self._init_state(z)
        if teacher_forcing_prob >= 1.0:
            logits, _ = self._step(prev, z, state)
            return logits
        outputs = []
        for t in range(steps):
            token = prev[:, t]
            if t > 0:
                sampled = torch.multinomial(F.softmax(outputs[-1].detach(), dim=-1), 1)[:, 0]
                forced = torch.rand(token.shape, device=x.device) < teacher_forcing_prob
                token = torch.where(forced, token, sampled)
            logits, state = self._step(token[:, None], z, state)
            outputs.append(logits[:, 0])
        return torch.stack(outputs, dim=1)

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
        """Events [B, steps] played from z [B, z_dim], one step at a time.

        Each event is drawn from softmax(logits / temperature) with ``generator``, or is the
        argmax when temperature is 0; with ``top_p`` < 1 only from the nucleus, the fewest
        likeliest events whose probabilities reach ``top_p`` (``nucleus``). A ``prefix``
        [B, P] (or [P]) of given events is forced at the first P steps, so the rest
        continues it.
        """
        steps = self.steps if steps is None else steps
        batch = z.shape[0]
        if prefix is not None:
            prefix = prefix.to(z.device).long().expand(batch, -1)
        token = torch.full((batch,), self.start, dtype=torch.long, device=z.device)
        state = self._init_state(z)
        events = []
        for _ in range(steps):
            logits, state = self._step(token[:, None], z, state)
            token = _choose(logits[:, 0], temperature, generator, top_p)
            if prefix is not None and len(events) < prefix.shape[1]:
                token = prefix[:, len(events)]
            events.append(token)
        return torch.stack(events, dim=1)

    # --- pieces -------------------------------------------------------------------------

    def _init_state(self, cond: Tensor) -> LSTMState:
        return _lstm_state(self.dec_init(cond), self.config.dec_layers, self.config.dec_hidden)

    def _step(self, prev: Tensor, cond: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """Run the decoder over previous events [N, L] with conditioning cond [N, dim]."""
        inputs = torch.cat(
            [self.dec_embed(prev), cond[:, None, :].expand(-1, prev.shape[1], -1)], dim=-1
        )
        out, state = self.decoder(inputs, state)
        return self.head(out), state


def _lstm_state(projected: Tensor, layers: int, hidden: int) -> LSTMState:
    """tanh(Linear(c)) [N, 2 * layers * hidden] -> (h0, c0), each [layers, N, hidden]."""
    h, c = torch.tanh(projected).reshape(-1, 2, layers, hidden).permute(1, 2, 0, 3)
    return h.contiguous(), c.contiguous()


def _choose(
    logits: Tensor, temperature: float, generator: torch.Generator | None, top_p: float = 1.0
) -> Tensor:
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = F.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        probs = nucleus(probs, top_p)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def nucleus(probs: Tensor, top_p: float) -> Tensor:
    """Nucleus (top-p) sampling's distribution (Holtzman et al. 2020, "The Curious Case of
    Neural Text Degeneration"): of ``probs`` [N, classes], the fewest likeliest classes
    whose probabilities sum to at least ``top_p`` (always the likeliest), renormalised;
    every other class gets 0. The long tail of unlikely events, each rare but together
    often drawn, is what it cuts."""
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    ordered, order = probs.sort(dim=-1, descending=True)
    before = ordered.cumsum(dim=-1) - ordered  # the mass of the likelier classes
    ordered = torch.where(before < top_p, ordered, torch.zeros_like(ordered))
    kept = torch.zeros_like(probs).scatter(-1, order, ordered)
    return kept / kept.sum(dim=-1, keepdim=True)


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(q(z|x) || N(0, I)) in nats, one value per example: [B]."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)
