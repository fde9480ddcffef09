"""The nested leave-one-image-out choice in pipelines/segmentation_supports.py: the held-out image never
helps choose, and its score is read from supports that do not contain it."""

from pipelines.segmentation_supports import ARMS, nested_choice


def _table(n_images: int) -> list:
    """One-image supports. 'pixel forest' is best on every image but image 0, where it is worst."""
    table = []
    for support in range(n_images):
        scores = {arm: {} for arm in ARMS}
        for q in range(n_images):
            if q == support:
                continue
            scores["pixel forest"][q] = 0.1 if q == 0 else 0.9
            scores["default"][q] = 0.5
            scores["votes knn"][q] = scores["votes linear"][q] = 0.0
        table.append(((support,), scores))
    return table


def test_held_out_image_takes_no_part_in_its_choice():
    folds = nested_choice(_table(4), 4)
    assert [f["held_out"] for f in folds] == [0, 1, 2, 3]
    assert all(f["supports"] == 3 for f in folds)  # the support holding the image is left out
    zero = folds[0]
    # Chosen on images 1-3 alone, where the forest wins; on image 0 it then loses to the default.
    assert zero["chosen"] == "pixel forest" and zero["inner"]["pixel forest"] == 0.9
    assert zero["held_out_dice"]["pixel forest"] == [0.1, 0.1, 0.1]
    assert zero["held_out_dice"]["default"] == [0.5, 0.5, 0.5]
    one = folds[1]
    # Image 0 is an inner query here, so it pulls the forest's inner mean down, not its held-out score.
    assert one["chosen"] == "pixel forest" and one["held_out_dice"]["pixel forest"] == [0.9, 0.9, 0.9]
    assert one["inner"]["pixel forest"] < 0.9
