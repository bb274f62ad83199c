"""Every registered data set through the same checks: generated ones yield batches of the
contract of the task that trains on them (`BaseTask.check_batch`), real ones refuse a missing
folder naming it and the layout they expected."""


import pytest

from bnnbench import data, tasks  # noqa: F401  (task registrations)
from bnnbench.core.registry import TASKS


@pytest.mark.parametrize("name", data.names())
def test_every_data_set(name, tmp_path):
    cls = data.DATASETS.get(name)
    if "root" in cls.option_defaults():
        missing = tmp_path / "missing"
        with pytest.raises(FileNotFoundError) as err:
            dm = data.build(name, root=str(missing))
            dm.setup("fit")
        assert str(missing) in str(err.value) and "expected" in str(err.value).lower()
        return
    dm = data.build(name, batch_size=4, image_size=[16, 16], **({"train_size": 8, "val_size": 4}
                    if "train_size" in cls.option_defaults() else {}))
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    # the task that trains on this kind of data owns its batch contract
    owners = [TASKS.get(t) for t in TASKS.names() if dm.task in TASKS.get(t).data_kinds]
    assert owners, f"no task trains on {dm.task!r} data"
    for task in owners:
        task.check_batch(batch, dm.info)
    images = batch[0]
    assert len(images) == 4  # the batch size asked for


@pytest.mark.parametrize("kind", sorted({t for n in TASKS.names() for t in TASKS.get(n).data_kinds}))
def test_every_task_refuses_a_batch_with_a_target_missing(kind):
    # the contracts are real: a generated batch of the kind passes, the same batch with one
    # target fewer than images is refused in one line
    ours = next(TASKS.get(n) for n in TASKS.names() if kind in TASKS.get(n).data_kinds)
    name = next(n for n in data.names() if data.DATASETS.get(n).task == kind and
                "root" not in data.DATASETS.get(n).option_defaults())
    cls = data.DATASETS.get(name)
    dm = data.build(name, batch_size=2, image_size=[16, 16], **({"train_size": 4, "val_size": 2}
                    if "train_size" in cls.option_defaults() else {}))
    dm.setup("fit")
    images, targets = next(iter(dm.train_dataloader()))
    ours.check_batch((images, targets), dm.info)
    with pytest.raises(ValueError):
        ours.check_batch((images, targets[:-1]), dm.info)
