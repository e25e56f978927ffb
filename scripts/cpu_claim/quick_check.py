"""Quick end-to-end learnability check used to debug the plateau (see README, "Debugging the plateau").

Trains the tiny base checkpoint on a generated synth_detail variant with the plain torch trainer and scores
the first answer token by teacher-forced argmax (train and test, 300 each), without the generation engine:

    python3 -m mg_model.train.synthetic --out /tmp/f24 --n-train 1000 --n-test 300 --seed 0 --digits 1 \
        --font-px 24 --jitter 1 --fixed-cell
    python3 scripts/cpu_claim/quick_check.py /tmp/f24 /tmp/f24_run 700 2e-3 none 0   # last arg: mining 0/1
"""

import json
import sys
import time
from collections import Counter

import torch

from mg_model.train.data import IGNORE_INDEX, collate
from mg_model.train.synthetic import ANSWER_SUFFIX
from mg_model.train.trainer import TrainConfig, build_dataset, train

BASE = "checkpoints/ablations/_cpu_info_mining_random_init_work/base-tiny-seed0"


def main() -> None:
    """Train, then print the loss per 100 steps and teacher-forced first-token accuracy."""
    torch.set_num_threads(1)
    data, out, steps, lr, multi, mining = sys.argv[1:7]
    test = json.loads(open(f"{data}/TextVQA_synth_detail_val.json").read())["data"]
    test_json = [{"id": str(r["question_id"]), "image": f"images/{r['image_id']}.jpg",
                  "conversations": [{"from": "human", "value": "<image>\n" + r["question"] + ANSWER_SUFFIX},
                                    {"from": "gpt", "value": r["answers"][0]}]} for r in test]
    with open(f"{out}_test.json", "w") as handle:
        json.dump(test_json, handle)
    cfg = TrainConfig(model_path=BASE, data_path=f"{data}/train.json", image_folder=data, output_dir=out,
                      max_steps=int(steps), per_device_batch=16, lr=float(lr),
                      lr_multi=None if multi == "none" else multi, mining=mining == "1", cache_data=True,
                      progress=False, resume=False, seed=0)
    started = time.time()
    result = train(cfg)
    losses = result.losses
    print("loss per 100:", [round(sum(losses[i:i + 100]) / len(losses[i:i + 100]), 3)
                            for i in range(0, len(losses), 100)], round(time.time() - started), "s")
    model = result.model.eval()
    for name, path in (("train", f"{data}/train.json"), ("test", f"{out}_test.json")):
        dataset, tokenizer = build_dataset(TrainConfig(model_path=BASE, data_path=path, image_folder=data,
                                                       output_dir=out))
        n, correct, preds = min(len(dataset), 300), 0, []
        with torch.no_grad():
            for start in range(0, n, 50):
                batch = collate([dataset[i] for i in range(start, min(n, start + 50))], tokenizer.pad_token_id, 2048)
                logits = model(**batch).logits
                offset = logits.shape[1] - batch["input_ids"].shape[1]  # visual tokens - 1 (one image each)
                for k in range(logits.shape[0]):
                    labels = batch["labels"][k]
                    first = int((labels != IGNORE_INDEX).nonzero()[0])
                    pred = int(logits[k, first - 1 + offset].argmax())
                    preds.append(pred)
                    correct += pred == int(labels[first])
        print(name, "first-token accuracy", round(correct / n, 3),
              Counter(tokenizer.decode([p]) for p in preds).most_common(4))


if __name__ == "__main__":
    main()
