"""Every registered data set through the same checks: generated ones yield batches of the task
contract, real ones refuse a missing folder naming it and the layout they expected."""

import inspect

import pytest
import torch

from bnnbench import data


@pytest.mark.parametrize("name", data.names())
def test_every_data_set(name, tmp_path):
    cls = data.DATASETS.get(name)
    if "root" in inspect.signature(cls.__init__).parameters:
        missing = tmp_path / "missing"
        with pytest.raises(FileNotFoundError) as err:
            dm = data.build(name, root=str(missing))
            dm.setup("fit")
        assert str(missing) in str(err.value) and "expected" in str(err.value).lower()
        return
    dm = data.build(name, batch_size=4, image_size=[16, 16], **({"train_size": 8, "val_size": 4}
                    if "train_size" in inspect.signature(cls.__init__).parameters else {}))
    dm.setup("fit")
    image, target = next(iter(dm.train_dataloader()))
    if dm.task == "det":  # lists: detection images may differ in size
        assert len(image) == len(target) == 4 and image[0].shape == (3, 16, 16)
        assert all(t["boxes"].shape[1] == 4 and (t["labels"] < dm.num_classes).all() for t in target)
        return
    if dm.task == "sr":  # (LR, HR) pairs, image_size the HR crop
        s = dm.scale
        assert image.shape == (4, 3, 16 // s, 16 // s) and target.shape == (4, 3, 16, 16)
        assert 0 <= image.min() and target.max() <= 1
        return
    assert image.shape == (4, 3, 16, 16) and image.dtype == torch.float32
    if dm.task == "seg":
        assert target.shape == (4, 16, 16) and target.dtype == torch.int64
        assert ((target < dm.num_classes) | (target == dm.ignore_index)).all()
    elif dm.task == "depth":
        assert target.shape == (4, 1, 16, 16) and (target >= 0).all() and (target <= dm.max_depth).all()
    else:
        assert dm.task == "cls" and target.shape == (4,) and (target < dm.num_classes).all()
