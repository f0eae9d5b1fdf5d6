"""The run monitor: metrics.jsonl reads as one uninterrupted run after a resume, torn lines are skipped, non-finite
losses stop the run, and collapse is warned about once, after `patience` logs."""

import json
import warnings

import pytest
import torch

from lewm_agents.monitor import METRICS_FILE, CollapseWarning, Monitor, read_metrics, truncate_metrics


def values(loss, pred=0.5, sigreg=5.0, grad_norm=2.0):
    """The metrics of one step, as an objective and the learner return them (scalar tensors)."""
    return {
        k: torch.tensor(float(v)) for k, v in dict(loss=loss, pred=pred, sigreg=sigreg, grad_norm=grad_norm).items()
    }


def test_resume_drops_entries_after_the_checkpoint_and_appends(tmp_path):
    m = Monitor(tmp_path, start_step=0, latent_dim=8)
    for step in range(1, 6):
        m.step(step, 0.1, values(step))
    m.add(5, {"val_loss": 0.25})
    written = m.flush()
    m.close()
    assert [e["step"] for e in written] == [1, 2, 3, 4, 5] and written[-1]["val_loss"] == 0.25
    with open(tmp_path / METRICS_FILE, "a") as f:
        f.write('{"step": 6, "loss": 0.')  # the writer was killed mid-line
    assert [e["step"] for e in read_metrics(tmp_path)] == [1, 2, 3, 4, 5]
    m = Monitor(tmp_path, start_step=3, latent_dim=8)  # resumed from the checkpoint of step 3
    m.step(4, 0.1, values(40.0))
    m.flush()
    m.close()
    entries = read_metrics(tmp_path)
    assert [e["step"] for e in entries] == [1, 2, 3, 4] and entries[-1]["loss"] == 40.0
    assert json.loads((tmp_path / METRICS_FILE).read_text().splitlines()[0])["lr"] == 0.1
    assert truncate_metrics(tmp_path, 2) == 2


def test_non_finite_loss_stops_the_run(tmp_path):
    m = Monitor(tmp_path, start_step=0, latent_dim=8, write=False)
    m.step(1, 0.1, values(float("nan")))
    with pytest.raises(FloatingPointError, match=r"step 1.*--lr"):
        m.flush()


def test_collapse_warning_after_patience_logs_once(tmp_path):
    m = Monitor(
        tmp_path, start_step=0, latent_dim=100, collapse_fraction=0.05, collapse_patience=3, collapse_hint="Raise --lam"
    )
    healthy = {"eff_rank": 40.0, "emb_std": 0.9}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step, stats in enumerate([healthy, {"eff_rank": 2.0, "emb_std": 0.9}, healthy] * 2):  # transient dips
            m.log(step, stats)
        assert not caught
        for step in range(10, 16):  # point mass: the rank is scale-free, the std is not
            m.log(step, {"eff_rank": 30.0, "emb_std": 0.001})
    assert len(caught) == 1 and issubclass(caught[0].category, CollapseWarning)
    assert "step 12" in str(caught[0].message) and "--lam" in str(caught[0].message)
    m.close()


def test_any_metric_names_are_written_and_statistics_only_when_reported(tmp_path):
    m = Monitor(tmp_path, start_step=0, latent_dim=8)
    m.step(1, 0.1, {"loss": torch.tensor(1.0), "std_loss": torch.tensor(0.25), "grad_norm": torch.tensor(3.0)})
    m.step(2, 0.1, {"loss": torch.tensor(0.5), "std_loss": torch.tensor(0.125), "grad_norm": torch.tensor(2.0),
                    "emb_std": torch.tensor(0.75)})  # fmt: skip
    m.flush()
    m.close()
    first, second = read_metrics(tmp_path)
    assert first == {"step": 1, "loss": 1.0, "std_loss": 0.25, "grad_norm": 3.0, "lr": 0.1}
    assert second["std_loss"] == 0.125 and second["emb_std"] == 0.75


def test_collapse_check_is_skipped_without_latent_statistics(tmp_path):
    m = Monitor(tmp_path, start_step=0, latent_dim=100, collapse_patience=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(5):
            m.log(step, {"loss": 1.0})  # an objective without emb_std / eff_rank: nothing to judge
        m.log(5, {"loss": 1.0, "eff_rank": 1.0, "emb_std": 0.001})  # with them: a collapse is reported
    assert len(caught) == 1 and issubclass(caught[0].category, CollapseWarning)
    m.close()
