"""--refine: a small segmentation-models-pytorch U-Net trained on the support masks, plus confident
pseudo-labels from the k-NN/STHLM votes on the query images, with albumentations augmentation."""

from __future__ import annotations

import albumentations as A
import numpy as np
import segmentation_models_pytorch as smp
import torch
from pydantic import BaseModel, ConfigDict, Field

IGNORE = 255


class RefineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoder: str = "resnet18"
    iterations: int = Field(default=300, ge=1)
    crop_px: int = Field(default=128, ge=32)
    batch_size: int = Field(default=8, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    pseudo_label_min_prob: float = Field(default=0.8, gt=0, le=1)
    seed: int = 0


def _augment(crop_px: int, seed: int) -> A.Compose:
    return A.Compose(
        [
            A.RandomCrop(crop_px, crop_px),
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=1.0),
            A.HueSaturationValue(hue_shift_limit=8, sat_shift_limit=20, val_shift_limit=10, p=0.8),
        ],
        seed=seed,
    )


def pseudo_labels(probs: np.ndarray, min_prob: float) -> np.ndarray:
    """Class index where the vote is confident, IGNORE elsewhere."""
    labels = probs.argmax(axis=2).astype(np.uint8)
    labels[probs.max(axis=2) < min_prob] = IGNORE
    return labels


def train_refiner(images: list[np.ndarray], targets: list[np.ndarray], n_classes: int, config: RefineConfig) -> torch.nn.Module:
    """targets hold class indices (IGNORE = unlabelled); images smaller than the crop are skipped."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = smp.Unet(config.encoder, encoder_weights=None, in_channels=3, classes=n_classes)
    optim = torch.optim.AdamW(net.parameters(), lr=config.lr)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    augment = _augment(config.crop_px, config.seed)
    usable = [i for i, im in enumerate(images) if min(im.shape[:2]) >= config.crop_px]
    net.train()
    for _ in range(config.iterations):
        batch = [augment(image=images[i], mask=targets[i]) for i in rng.choice(usable, config.batch_size)]
        x = torch.stack([_to_tensor(b["image"]) for b in batch])
        y = torch.stack([torch.from_numpy(b["mask"].astype(np.int64)) for b in batch])
        loss = loss_fn(net(x), y)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
    return net.eval()


@torch.inference_mode()
def predict_refined(net: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    """(H, W, C) probabilities; the image is padded to the U-Net's multiple of 32 and cropped back."""
    h, w = image.shape[:2]
    ph, pw = -h % 32, -w % 32
    padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    logits = net(_to_tensor(padded)[None])[0, :, :h, :w]
    return logits.softmax(0).permute(1, 2, 0).numpy()


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 127.5 - 1.0
