"""Train one Mini-Gemini stage (stage 1 alignment / stage 2 instruction tuning) with the official recipe.

Examples:
  # official MGM-7B stage 2 settings (ZeRO-2-offload, LR 2e-5, batch 8 x 16 GPUs, vicuna_v1 masking)
  torchrun --nproc_per_node 8 -m mg_eval.cli.main train --size 7b --stage finetune \\
      --model checkpoints/mgm-7b-init --pretrain-adapter checkpoints/mgm-7b-stage1/mm_projector.bin \\
      --data data/MGM-Finetune/mgm_instruction.json --image-folder data/MGM-Finetune --output checkpoints/mgm-7b
  # evaluate every checkpoint while training (a `mg-eval watch` process beside the trainer, here on a second GPU)
  mg-eval train ... --output runs/stage2 --eval-every 500 --eval-tasks textvqa_val,mme --eval-device cuda:1
  # tiny CPU run (plain torch, no DeepSpeed)
  mg-eval train --model /tmp/tiny --data synth/train.json --image-folder synth --output /tmp/out \\
      --template vicuna_v1 --lr 1e-3 --batch-size 8 --max-steps 50

Options left unset take the official value for --size/--stage/--hd (docs/official_code.md#training-hyper-parameters; `--show-defaults` prints
them). Rerunning the same command resumes from the newest checkpoint in --output.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from mg_eval.cli.shared_flags import RESULTS_ROOT, add_output_argument, add_train_seed_argument
from mg_eval.errors import UserInputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `mg-eval train` (one flag per TrainConfig field)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--model", help="MGM checkpoint directory to start from (official layout)")
    parser.add_argument("--data", help="training JSON/JSONL in the LLaVA/MGM conversation format")
    parser.add_argument("--image-folder", default=None, help="folder the samples' 'image' paths are relative to")
    add_output_argument(parser, what="training output folder (checkpoints, final model)")
    parser.add_argument("--stage", default="finetune", help="pretrain (1: projector + mining) or finetune (2)")
    parser.add_argument("--size", default=None,
                        help="model size for the official defaults: 2b, 7b, 13b, 8b, 8x7b, 34b, tiny")
    parser.add_argument("--hd", action="store_true", help="HD recipe (stage 2 only; 4096 tokens)")
    parser.add_argument("--show-defaults", action="store_true", help="print the resolved settings and exit")
    parser.add_argument("--template", default=None, help="conversation template for label masking")
    parser.add_argument("--pretrain-adapter", default=None, help="stage-1 mm_projector.bin to start stage 2 from")
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--max-steps", type=int, default=None, help="optimizer steps (default: from --epochs)")
    parser.add_argument("--batch-size", type=int, default=None, help="per-device batch size")
    parser.add_argument("--grad-accum", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--lr-multi", default=None, help='e.g. "model.mm_projector:2,model.vlm_uni:2"')
    parser.add_argument("--warmup-ratio", type=float, default=None)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--max-length", type=int, default=None, help="token cap per sample (2048; HD 4096)")
    parser.add_argument("--deepspeed", default=None,
                        help="zero2 | zero2_offload | zero3 | a DeepSpeed JSON; 'none' = plain torch / DDP")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--no-mining", action="store_true", help="train without patch info mining (baseline)")
    parser.add_argument("--cache-data", action="store_true",
                        help="keep every preprocessed sample in memory (small data sets trained for many epochs)")
    parser.add_argument("--save-steps", type=int, default=0, help="checkpoint every N steps (0: only at the end)")
    add_train_seed_argument(parser)
    parser.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints in --output")
    evaluation = parser.add_argument_group("evaluation while training (`mg-eval watch` on --output, in a second process)")
    evaluation.add_argument("--eval-tasks", default=None, metavar="LIST",
                            help="evaluate every checkpoint on these tasks as soon as it is written (mg-eval watch)")
    evaluation.add_argument("--eval-every", type=int, default=None, metavar="N",
                            help="checkpoint (and evaluate) every N steps (sets --save-steps)")
    evaluation.add_argument("--eval-device", default="auto", help="device of the evaluation (default auto)")
    evaluation.add_argument("--eval-output", default=RESULTS_ROOT, metavar="DIR",
                            help=f"results root of the evaluation (default ./{RESULTS_ROOT})")
    evaluation.add_argument("--eval-poll", type=float, default=30.0, metavar="SECONDS",
                            help="seconds between the watcher's looks at --output (default 30)")
    evaluation.add_argument("--eval-args", default="", metavar="'OPTIONS'",
                            help="further `mg-eval watch` / `run` options, quoted, e.g. '--limit 200 --batch-size 16'")


def resolve_config(args: argparse.Namespace):
    """Build the TrainConfig: explicit flags win, then the official defaults for --size, then TrainConfig's."""
    from mg_model.train.stages import COMMON, official_defaults, resolve_stage
    from mg_model.train.trainer import TrainConfig

    values: dict = {}
    if args.size:
        row = official_defaults(args.size, resolve_stage(args.stage), args.hd)
        values.update(template=row.template, per_device_batch=row.per_device_batch, grad_accum=row.grad_accum,
                      lr=row.lr, max_length=row.max_length, deepspeed=row.deepspeed, lr_multi=row.lr_multi,
                      epochs=COMMON["epochs"], warmup_ratio=COMMON["warmup_ratio"], bf16=COMMON["bf16"],
                      weight_decay=COMMON["weight_decay"], gradient_checkpointing=COMMON["gradient_checkpointing"])
        if args.size == "tiny":
            values.update(deepspeed=None, bf16=False, gradient_checkpointing=False)
    explicit = {"template": args.template, "pretrain_adapter": args.pretrain_adapter, "epochs": args.epochs,
                "max_steps": args.max_steps, "per_device_batch": args.batch_size, "grad_accum": args.grad_accum,
                "lr": args.lr, "lr_multi": args.lr_multi, "warmup_ratio": args.warmup_ratio,
                "weight_decay": args.weight_decay, "max_length": args.max_length, "bf16": args.bf16,
                "gradient_checkpointing": args.gradient_checkpointing}
    values.update({key: value for key, value in explicit.items() if value is not None})
    if args.deepspeed is not None:
        values["deepspeed"] = None if args.deepspeed.lower() == "none" else args.deepspeed
    missing = [flag for flag, value in (("--model", args.model), ("--data", args.data), ("--output", args.output))
               if not value]
    if missing and not args.show_defaults:
        raise UserInputError(f"mg-eval train needs {', '.join(missing)}")
    return TrainConfig(model_path=args.model or "", data_path=args.data or "", output_dir=args.output or "",
                       image_folder=args.image_folder, stage=args.stage, save_steps=args.save_steps,
                       seed=args.train_seed, resume=not args.no_resume, mining=not args.no_mining,
                       cache_data=args.cache_data, **values)


def run(args: argparse.Namespace) -> int:
    """Resolve the settings, check them, train; prints where the model went and the final loss."""
    from mg_eval.cli.watch import watch_beside_training
    from mg_model.train.data import TrainingInputError
    from mg_model.train.trainer import train

    if args.eval_every is not None:
        if args.eval_every < 1 or (args.save_steps and args.save_steps != args.eval_every):
            raise UserInputError(f"--eval-every {args.eval_every} must be >= 1 and agree with --save-steps "
                                 f"{args.save_steps} (it sets it); drop one of them")
        args.save_steps = args.eval_every
    try:
        config = resolve_config(args)
        if args.show_defaults:
            print(json.dumps(dataclasses.asdict(config), indent=1))
            return 0
        with watch_beside_training(args):
            result = train(config)
    except TrainingInputError as exc:
        raise UserInputError(str(exc)) from exc
    if result.already_finished:
        print(f"already trained ({result.global_step} steps): {result.output_dir} holds this run's finished model; "
              "nothing was trained or written (pass another --output to train again)")
        return 0
    last = f"{result.losses[-1]:.4f}" if result.losses else "n/a"
    resumed = f", resumed from step {result.resumed_from}" if result.resumed_from else ""
    print(f"trained {result.global_step} steps ({result.backend}{resumed}) in {result.seconds:.0f}s; "
          f"final loss {last}; model: {result.output_dir}")
    return 0
