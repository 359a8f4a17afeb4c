"""The shared transfer recipe: gradient reversal, DANN's schedule, frozen parts and
learning-rate scales by name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from museforge.core.transfer import (
    DomainClassifier,
    dann_lambda,
    domain_adversarial_loss,
    freeze,
    lr_scales,
    param_groups,
    parse_scales,
    reverse_gradient,
)
from museforge.errors import UserError


class TwoParts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body, self.head = nn.Linear(3, 4), nn.Linear(4, 1)

    def transfer_parts(self) -> dict[str, list[nn.Module]]:
        return {"body": [self.body], "head": [self.head]}


def test_reversal_passes_values_and_turns_gradients_round():
    x = torch.randn(5, requires_grad=True)
    y = reverse_gradient(x, 0.5)
    assert torch.equal(y, x)
    (y * torch.arange(5.0)).sum().backward()
    assert torch.equal(x.grad, -0.5 * torch.arange(5.0))


def test_dann_schedule_rises_from_zero_towards_one():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + torch.e**-5) - 1)
    assert 0.999 < dann_lambda(1.0) < 1.0 and dann_lambda(2.0) == dann_lambda(1.0)


def test_features_learn_to_fool_the_classifier_it_learns_against():
    torch.manual_seed(0)
    source = torch.randn(64, 2)
    shift = nn.Parameter(torch.tensor([3.0, 0.0]))  # the target's features, off to one side
    target_base = torch.randn(64, 2)
    classifier = DomainClassifier(2, hidden=16)
    opt = torch.optim.Adam([shift, *classifier.parameters()], lr=0.02)
    for _ in range(400):
        opt.zero_grad()
        loss, _ = domain_adversarial_loss(classifier, source, target_base + shift, 1.0)
        loss.backward()
        opt.step()
    assert shift.detach().norm() < 1.0  # pulled towards the source's features


def test_freeze_and_scales_go_by_the_parts_a_model_names():
    model = TwoParts()
    freeze(model, ["body"])
    assert not any(p.requires_grad for p in model.body.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    scales = lr_scales(model, {"head": 0.1})
    groups = param_groups(list(model.parameters()), scales, weight_decay=0.01)
    by_scale = {(g["lr_scale"], g["weight_decay"]): len(g["params"]) for g in groups}
    assert by_scale == {(1.0, 0.01): 1, (1.0, 0.0): 1, (0.1, 0.01): 1, (0.1, 0.0): 1}
    with pytest.raises(UserError, match="its parts: body, head"):
        freeze(model, ["encoder"])
    with pytest.raises(UserError, match="above 0"):
        lr_scales(model, {"head": 0.0})


def test_a_frozen_part_keeps_its_batch_norm_statistics_and_the_run_logs_its_own_lr(tmp_path):
    import json

    from museforge.core.training import TrainConfig, train
    from museforge.core.transfer import scaled_adamw

    class WithNorm(TwoParts):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))

    torch.manual_seed(0)
    model = WithNorm()
    freeze(model, ["body"])
    before = {k: v.clone() for k, v in model.body.state_dict().items()}
    data = torch.randn(64, 3) * 3 + 1  # statistics far from the layer's own

    def loss_fn(net, batch, step):
        return net.head(net.body(batch)).pow(2).mean()

    config = TrainConfig(steps=4, batch_size=8, lr=0.01, log_every=1, checkpoint_every=4)
    make = scaled_adamw(lr_scales(model, {"head": 0.1}))  # its group comes first
    train(
        model.train(), data, loss_fn, config, tmp_path / "run", progress=False, make_optimizer=make
    )
    after = model.body.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats included
    logged = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["lr"] for row in logged if "lr" in row] == [0.01] * 4


def test_scales_from_the_command_line():
    assert parse_scales(["encoder=0.1", "decoder=2"]) == {"encoder": 0.1, "decoder": 2.0}
    for bad in ("encoder", "=0.1", "encoder=fast"):
        with pytest.raises(UserError, match="PART=NUMBER"):
            parse_scales([bad])
