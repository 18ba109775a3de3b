"""A run stopped part way (a crash, a full disk), then resumed from its last checkpoint, ends with
exactly the weights of the uninterrupted run, for both trainers. Kills of whole processes are in
test_faults.py."""
import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from resnet_det.engine.checkpoint import CheckpointReadError, CheckpointWriteError


class _Interrupt(Exception):
    pass


def _crash_at_iteration_17(trainer, monkeypatch) -> None:
    real_get = trainer.train_loader.get

    def get(iteration):
        if iteration == 17:
            raise _Interrupt
        return real_get(iteration)

    monkeypatch.setattr(trainer.train_loader, "get", get)


def _crash_in_the_fourth_step(trainer, monkeypatch) -> None:
    real, calls = trainer.losses, []

    def losses(batch):
        calls.append(batch)
        if len(calls) == 4:  # iterations 0, 1, 2 done
            raise _Interrupt
        return real(batch)

    monkeypatch.setattr(trainer, "losses", losses)


def _fill_the_disk_at_the_second_save(trainer, monkeypatch) -> None:
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        # Where the disk fills matters little; network and delayed-allocation filesystems report it
        # at fsync, after every write() succeeded.
        if "model_0000008" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@dataclass
class Stop:
    task: str
    stop: Callable
    error: type[Exception]
    kept: list[str]  # the checkpoints left; last_checkpoint names the last
    overrides: list[str] = field(default_factory=list)
    match: str | None = None


STOPS = {
    "cls_crash": Stop("cls", _crash_at_iteration_17, _Interrupt, ["model_0000010.pth"]),
    # SOLVER.CHECKPOINT_KEEP 2: of the checkpoints at 3, 6, 9, 12 and 15, the last two are left.
    "cls_crash_keep_2": Stop("cls", _crash_at_iteration_17, _Interrupt, ["model_0000012.pth", "model_0000015.pth"],
                             ["SOLVER.CHECKPOINT_PERIOD", "3", "SOLVER.CHECKPOINT_KEEP", "2"]),
    # MixUp / CutMix and repeated augmentation draw from the iteration too.
    "cls_crash_mixed": Stop("cls", _crash_at_iteration_17, _Interrupt, ["model_0000010.pth"],
                            ["INPUT.MIXUP_ALPHA", "0.2", "INPUT.CUTMIX_ALPHA", "1.0",
                             "DATALOADER.REPEATED_AUGMENTATIONS", "4"]),
    # The weight average (averaged every 2 iterations) resumes with its own state, exactly.
    "cls_crash_ema": Stop("cls", _crash_at_iteration_17, _Interrupt, ["model_0000010.pth"],
                          ["SOLVER.EMA.ENABLED", "True", "SOLVER.EMA.DECAY", "0.9", "SOLVER.EMA.PERIOD", "2"]),
    "det_crash": Stop("det", _crash_in_the_fourth_step, _Interrupt, ["model_0000002.pth"]),
    "cls_full_disk": Stop("cls", _fill_the_disk_at_the_second_save, CheckpointWriteError, ["model_0000004.pth"],
                          ["SOLVER.MAX_ITER", "12", "SOLVER.CHECKPOINT_PERIOD", "4"],
                          r"model_0000008.pth \(No space left on device\); the last complete checkpoint, "
                          r".*model_0000004.pth, is intact"),
}


@pytest.mark.parametrize("case", STOPS.values(), ids=STOPS.keys())
def test_resume_after_a_stop_reproduces_the_uninterrupted_run(case, tmp_path, monkeypatch, small_trainer,
                                                              assert_same_final_weights):
    small_trainer(case.task, tmp_path / "straight", *case.overrides).train()
    stopped = small_trainer(case.task, tmp_path / "resumed", *case.overrides)
    with monkeypatch.context() as patch:
        case.stop(stopped, patch)
        with pytest.raises(case.error, match=case.match):
            stopped.train()
    assert sorted(p.name for p in (tmp_path / "resumed").glob("*.pth")) == case.kept
    assert (tmp_path / "resumed" / "last_checkpoint").read_text() == case.kept[-1]

    resumed = small_trainer(case.task, tmp_path / "resumed", *case.overrides)
    resumed.load(resume=True)
    assert resumed.start_iter == int(case.kept[-1][6:13])
    resumed.train()
    assert_same_final_weights(tmp_path / "straight", tmp_path / "resumed")  # and their weight averages


def _run_files(folder) -> dict[str, bytes]:
    """The checkpoints, their pointer and what a run reports (config.yaml, results.json)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.suffix == ".pth" or p.name in ("last_checkpoint", "config.yaml", "results.json")}


def test_a_resume_at_or_past_max_iter_evaluates_and_writes_no_checkpoint(tmp_path, small_trainer, caplog):
    small_trainer("cls", tmp_path).train()  # 30 iterations: model_0000010/20.pth and model_final.pth
    before = _run_files(tmp_path)
    for max_iter in ("30", "20"):
        trainer = small_trainer("cls", tmp_path, "SOLVER.MAX_ITER", max_iter, "SOLVER.STEPS", "(10,)")
        assert trainer.load(resume=True).endswith("model_final.pth") and trainer.start_iter == 30
        with caplog.at_level("INFO"):
            results = trainer.train()
        assert f"model_final.pth has trained 30 iterations, SOLVER.MAX_ITER {max_iter} or more: nothing to train, " \
               "evaluating it" in caplog.text
        assert "train_top1_error" not in caplog.text.split("nothing to train")[-1]  # no step ran
        assert results["iterations"] == 30 and "top1_error" in results["results"]["shapes_test"]["classification"]
        # Never rewritten (least of all with a lower iteration), nor the training's config and results.
        assert _run_files(tmp_path) == before


def test_a_nan_in_the_rpn_stops_through_the_guard_naming_the_last_good_checkpoint(tmp_path, small_trainer):
    from resnet_det.engine.hooks import NonFiniteLossError
    from resnet_det.engine.train_loop import HookBase

    class PoisonTheRPN(HookBase):
        def __init__(self, rpn_head):
            self.rpn_head = rpn_head

        def after_step(self) -> None:  # after the checkpoint of iteration 2 is written
            if self.state.iter == 1:
                self.rpn_head.objectness_logits.bias.data.fill_(float("nan"))

    trainer = small_trainer("det", tmp_path)
    trainer.register_hooks([PoisonTheRPN(trainer.model.proposal_generator.rpn_head)])
    with pytest.raises(NonFiniteLossError, match=r"predicted RPN boxes or logits are not finite during training by "
                                                 r"iteration 3; stopped. Last good checkpoint: .*model_0000002.pth"):
        trainer.train()
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000002.pth"


def test_a_detector_resumed_with_another_freeze_at_names_the_checkpoint_and_the_change(tmp_path, small_trainer):
    small_trainer("det", tmp_path, "SOLVER.MAX_ITER", "2").train()  # the demo trains every stage: FREEZE_AT 0
    trainer = small_trainer("det", tmp_path, "SOLVER.MAX_ITER", "4", "MODEL.BACKBONE.FREEZE_AT", "2")
    with pytest.raises(CheckpointReadError, match=r"model_final.pth: its optimizer state does not fit this run's "
                                                  r"optimizer .*MODEL.BACKBONE.FREEZE_AT 0 -> 2"):
        trainer.load(resume=True)
